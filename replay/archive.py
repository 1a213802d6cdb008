"""Verify an archive file against the tombstone its run left in the database.

The file must be the one archived (same sha256), verify offline as an export of that
run (chain, header, signature if a key is given), and end at the head (seq, hash) the
database recorded when it deleted the run's events.
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..storage.archive import Tombstone
from .checkpoint import Checkpoint
from .offline import ExportReport, verify_export

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ArchiveCheck:
    """The outcome of checking an archive file against its tombstone."""

    tombstone: Tombstone
    file_sha256: str
    export: ExportReport
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """The file is the archived one, its chain holds and it ends at the recorded head."""
        return not self.problems


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_archived(
    tombstone: Tombstone, path: str | os.PathLike[str], key: bytes | None = None
) -> ArchiveCheck:
    """Check ``path`` against ``tombstone`` (raises ``OSError`` if it cannot be read)."""
    digest = file_sha256(path)
    head = Checkpoint(tombstone.head_seq, tombstone.head_hash)  # of no run: another run's file fails
    report = verify_export(path, key=key, checkpoint=head)
    problems = []
    if digest != tombstone.file_sha256:
        problems.append(f"the file's sha256 {digest} is not the archived file's {tombstone.file_sha256}")
    if report.run_id != tombstone.run_id:
        problems.append(f"the file is an export of run {report.run_id}, not of {tombstone.run_id}")
    elif not report.ok:
        where = f"first bad seq {report.chain.first_bad_seq}: " if report.chain.first_bad_seq else ""
        reason = report.chain.reason or f"signature {report.signature.value}"
        problems.append(f"the export does not verify ({where}{reason})")
    elif report.checkpoint is None or str(report.checkpoint) != str(head):
        problems.append(f"the export ends at {report.checkpoint}, not at the recorded head {head}")
    return ArchiveCheck(tombstone, digest, report, tuple(problems))
