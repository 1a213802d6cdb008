"""Archiving finished runs: export each, verify the file, then replace the run by a tombstone.

Per run: export to ``DIR/<run_id>.jsonl`` (signed with a key), verify the file offline
and check it ends at the run's head, sync it to disk, then in one transaction insert the
tombstone and delete the run's rows (``storage.archive``). A run whose export does not
verify, or that changed meanwhile, stays in the database and its file is removed.
On a PostgreSQL database hardened with ``ledgerflow db harden`` the events cannot be
deleted: archiving is refused before anything is written.
"""

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..replay.archive import file_sha256
from ..replay.export import export_run
from ..replay.offline import verify_export
from ..storage import Storage
from ..storage.archive import ArchiveCandidate, ArchiveRefused, SqlArchive, Tombstone
from ..storage.harden import is_hardened

ARCHIVING = "archiving runs"
"""What needs a database (raises ``DatabaseRequired`` on in-memory storage)."""


@dataclass(frozen=True, slots=True)
class ArchivePlan:
    """The finished runs older than the cutoff, newest first, and why some of them must stay."""

    updated_before: datetime
    candidates: tuple[ArchiveCandidate, ...]
    kept: Mapping[str, str] = field(default_factory=dict)

    @property
    def to_archive(self) -> list[ArchiveCandidate]:
        """The candidates that will be archived."""
        return [c for c in self.candidates if c.run.run_id not in self.kept]


@dataclass(frozen=True, slots=True)
class ArchiveReport:
    """What an executed archive did: the tombstones written and the runs kept, with why."""

    plan: ArchivePlan
    archived: tuple[Tombstone, ...]
    kept: Mapping[str, str]


def plan_archive(storage: Storage, updated_before: datetime, limit: int | None = None) -> ArchivePlan:
    """The runs an archive would take: finished, last updated before ``updated_before``;
    raises ``DatabaseRequired`` on in-memory storage."""
    archive = SqlArchive(storage.sql_engine(ARCHIVING))
    candidates = archive.candidates(updated_before, limit)
    return ArchivePlan(updated_before, tuple(candidates), _kept_for_cache(candidates, archive))


def _kept_for_cache(candidates: Collection[ArchiveCandidate], archive: SqlArchive) -> dict[str, str]:
    """Candidates whose results runs that stay took through the cache (transitively)."""
    taken = archive.cache_sources()
    leaving = {candidate.run.run_id for candidate in candidates}
    kept: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for run_id in sorted(leaving):
            takers = taken.get(run_id, set()) - leaving
            if takers:
                leaving.discard(run_id)
                kept[run_id] = f"runs {', '.join(sorted(takers))} took results from it through the cache"
                changed = True
    return kept


def execute_archive(
    storage: Storage, plan: ArchivePlan, directory: Path, *, exported_by: str,
    key: bytes | None = None,
) -> ArchiveReport:  # fmt: skip
    """Archive the plan's runs into ``directory``; raises ``ArchiveRefused`` on a hardened
    database, ``DatabaseRequired`` on in-memory storage, ``OSError`` if the directory
    cannot be written."""
    database = storage.sql_engine(ARCHIVING)
    if is_hardened(database):
        raise ArchiveRefused(
            f"{storage.url}: the events table is append-only (`ledgerflow db harden`), so archive "
            "cannot delete archived events; to archive, a database owner drops the triggers "
            "ledgerflow_events_append_only and ledgerflow_events_no_truncate, archives, and "
            "runs `ledgerflow db harden` again"
        )
    directory.mkdir(parents=True, exist_ok=True)
    archive = SqlArchive(database)
    archived: list[Tombstone] = []
    kept = dict(plan.kept)
    for candidate in plan.to_archive:
        outcome = _archive_one(storage, archive, candidate, directory, exported_by, key)
        if isinstance(outcome, Tombstone):
            archived.append(outcome)
        else:
            kept[candidate.run.run_id] = outcome
    return ArchiveReport(plan, tuple(archived), kept)


def _archive_one(
    storage: Storage, archive: SqlArchive, candidate: ArchiveCandidate, directory: Path,
    exported_by: str, key: bytes | None,
) -> Tombstone | str:  # fmt: skip
    """The tombstone of the archived run, or why it stays (its file then removed)."""
    run = candidate.run
    path = directory / f"{run.run_id}.jsonl"
    summary = export_run(storage, run.run_id, path, exported_by=exported_by, key=key)
    report = verify_export(path, key=key)
    head = f"{run.head_seq}:{run.head_hash}"
    if not report.ok:
        reason = f"its export does not verify ({report.chain.reason or report.signature.value})"
    elif str(summary.checkpoint) != head or str(report.checkpoint) != head:
        reason = f"it changed since it was selected (its head is now {summary.checkpoint})"
    else:
        _sync(path)
        tombstone = Tombstone(
            run.run_id, run.flow, run.state, run.head_seq, run.head_hash, run.created_at,
            run.updated_at, path.name, file_sha256(path), datetime.now(UTC),
        )  # fmt: skip
        why = archive.replace_with_tombstone(tombstone)
        if why is None:
            return tombstone
        reason = why
    path.unlink(missing_ok=True)
    return reason


def _sync(path: Path) -> None:
    """Flush the file and its directory entry to disk before the database forgets the run."""
    with path.open("rb") as file:
        os.fsync(file.fileno())
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
