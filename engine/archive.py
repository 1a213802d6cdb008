"""Archiving finished runs: export each, verify the file, then replace the run by a tombstone.

Per run: export to ``DIR/<run_id>.jsonl`` (signed with a key), verify the file offline
and check it ends at the run's head, sync it to disk, then in one transaction insert the
tombstone and delete the run's rows (``storage.archive``). A run whose export does not
verify, or that changed meanwhile, stays in the database and its file is removed.
With ``with_results`` each stored result the run's events refer to is copied beside the
export (``engine.archive_results``) and checked before the run is replaced, and the run's
objects are removed from their stores only once it is; without it they stay in place.
On a PostgreSQL database hardened with ``ledgerflow db harden`` the events cannot be
deleted: archiving is refused before anything is written.
"""

import os
import shutil
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..replay.archive import file_sha256, results_directory
from ..replay.export import export_run
from ..replay.offline import verify_export
from ..storage import Storage
from ..storage.archive import ArchiveCandidate, ArchiveRefused, SqlArchive, Tombstone
from ..storage.harden import is_hardened
from .archive_results import (
    ResultCopier,
    RunResults,
    left_in_place,
    run_refs,
    sync_directory,
)
from .result_storage import IN_DATABASE, ResultPlacement

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
    """What an executed archive did: the tombstones written, the runs kept (with why), and
    what became of each archived run's stored results (by run id)."""

    plan: ArchivePlan
    archived: tuple[Tombstone, ...]
    kept: Mapping[str, str]
    results: Mapping[str, RunResults] = field(default_factory=dict)
    with_results: bool = False


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
    key: bytes | None = None, with_results: bool = False,
    placement: ResultPlacement = IN_DATABASE,
) -> ArchiveReport:  # fmt: skip
    """Archive the plan's runs into ``directory`` (with ``with_results``, their stored results
    too, read and removed through ``placement``'s stores); raises ``ArchiveRefused`` on a
    hardened database, ``DatabaseRequired`` on in-memory storage, ``OSError`` if the directory
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
    archiving = _Archiving(storage, SqlArchive(database), directory, exported_by, key)
    copier = ResultCopier(storage, placement) if with_results else None
    archived: list[Tombstone] = []
    results: dict[str, RunResults] = {}
    kept = dict(plan.kept)
    for candidate in plan.to_archive:
        outcome = archiving.one(candidate, copier)
        if isinstance(outcome, str):
            kept[candidate.run.run_id] = outcome
        else:
            archived.append(outcome[0])
            results[candidate.run.run_id] = outcome[1]
    return ArchiveReport(plan, tuple(archived), kept, results, with_results)


@dataclass(frozen=True, slots=True)
class _Archiving:
    storage: Storage
    archive: SqlArchive
    directory: Path
    exported_by: str
    key: bytes | None

    def one(
        self, candidate: ArchiveCandidate, copier: ResultCopier | None
    ) -> tuple[Tombstone, RunResults] | str:
        """The tombstone of the archived run and what became of its results, or why it stays
        (its file, and the copies of its results, then removed)."""
        run = candidate.run
        path = self.directory / f"{run.run_id}.jsonl"
        copies = results_directory(self.directory, run.run_id)
        summary = export_run(self.storage, run.run_id, path, exported_by=self.exported_by, key=self.key)
        report = verify_export(path, key=self.key)
        head = f"{run.head_seq}:{run.head_hash}"
        if not report.ok:
            reason = f"its export does not verify ({report.chain.reason or report.signature.value})"
        elif str(summary.checkpoint) != head or str(report.checkpoint) != head:
            reason = f"it changed since it was selected (its head is now {summary.checkpoint})"
        else:
            refs = run_refs(self.storage, run.run_id, run.head_seq)
            why = None if copier is None else copier.copy(refs, copies)
            if why is None:
                _sync(path)
                tombstone = Tombstone(
                    run.run_id, run.flow, run.state, run.head_seq, run.head_hash, run.created_at,
                    run.updated_at, path.name, file_sha256(path), datetime.now(UTC),
                )  # fmt: skip
                why = self.archive.replace_with_tombstone(tombstone)
                if why is None:
                    done = left_in_place(refs) if copier is None else copier.remove_objects(run.run_id, refs)
                    return tombstone, done
            reason = why
        path.unlink(missing_ok=True)
        if copier is not None:
            shutil.rmtree(copies, ignore_errors=True)
        return reason


def _sync(path: Path) -> None:
    """Flush the file and its directory entry to disk before the database forgets the run."""
    with path.open("rb") as file:
        os.fsync(file.fileno())
    sync_directory(path.parent)
