"""Verify an archive file against the tombstone its run left in the database.

The file must be the one archived (same sha256), verify offline as an export of that
run (chain, header, signature if a key is given), and end at the head (seq, hash) the
database recorded when it deleted the run's events. A run archived with its results has
them beside the file, in ``<run_id>.results/``, each named by its sha256: every stored result
the exported events refer to must be there, with those very bytes.
"""

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from ..results.refs import ResultRef
from ..storage.archive import Tombstone
from .checkpoint import Checkpoint
from .offline import ExportReport, verify_export

_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
RESULTS_SUFFIX = ".results"
"""The folder beside an archive file holding its run's stored results: ``<run_id>.results``."""


@dataclass(frozen=True, slots=True)
class ArchiveCheck:
    """The outcome of checking an archive file against its tombstone."""

    tombstone: Tombstone
    file_sha256: str
    export: ExportReport
    problems: tuple[str, ...]
    results_checked: int | None = None  # copies of stored results checked (None: none archived)

    @property
    def ok(self) -> bool:
        """The file is the archived one, its chain holds and it ends at the recorded head."""
        return not self.problems


def results_directory(directory: Path, run_id: str) -> Path:
    """Where an archived run's stored results are copied: ``DIR/<run_id>.results``."""
    return directory / f"{run_id}{RESULTS_SUFFIX}"


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
    copies = results_directory(Path(path).parent, tombstone.run_id)
    if not copies.is_dir():
        return ArchiveCheck(tombstone, digest, report, tuple(problems))
    refs = {(ref.store, ref.key): ref.sha256 for ref in _exported_refs(Path(path))}
    for (_, stored), sha256 in sorted(refs.items()):
        problem = _copy_problem(copies, stored, sha256)
        if problem is not None:
            problems.append(problem)
    return ArchiveCheck(tombstone, digest, report, tuple(problems), len(refs))


def _exported_refs(path: Path) -> Iterator[ResultRef]:
    """The stored results the events of an export refer to."""
    with path.open("rb") as file:
        for raw in file:
            try:
                line = orjson.loads(raw)
                payload = line["payload"] if "payload" in line else orjson.loads(line["payload_text"])
                result = payload["result"] if line["kind"] == "event" else None
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue  # not an event with a result: the chain check speaks of malformed lines
            if isinstance(result, dict) and "ref" in result:
                yield ResultRef.from_payload(result)


def _copy_problem(copies: Path, key: str, sha256: str) -> str | None:
    """Why the copy of the result ``key`` is not in ``copies`` with its recorded bytes, or None."""
    copy = copies / sha256
    if _SHA256.fullmatch(sha256) is None or not copy.is_file():
        return f"the copy of stored result {key!r} ({copies.name}/{sha256}) is missing"
    found = file_sha256(copy)
    if found != sha256:
        return f"the copy of stored result {key!r} ({copies.name}/{sha256}) hashes to {found}"
    return None
