"""The read side of ``Engine``: the log, task logs, verification, export, point-in-time
state, diff and lineage of runs, their archiving, and the collection of stored results
nothing refers to (mixed into ``Engine``)."""

import os
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from ..replay.checkpoint import Checkpoint
from ..replay.diff import RunDiff, diff_runs
from ..replay.export import ExportSummary, export_run
from ..replay.lineage import Lineage, lineage
from ..replay.point_in_time import state_at
from ..replay.result_check import check_results
from ..replay.verify import VerifyReport, verify_all, verify_run, with_results
from ..storage import Storage, TaskLogLine
from ..storage.archive import SqlArchive, Tombstone
from .archive import ArchivePlan, ArchiveReport, execute_archive, plan_archive
from .core.events import Event
from .core.fold import RunView
from .result_gc import DEFAULT_AGE, ResultGcReport, collect_orphans
from .result_storage import ResultPlacement
from .version import ENGINE_VERSION


class AuditAPI:
    """Read a run's log back, check it, export it, compare runs, archive finished ones."""

    storage: Storage
    results_placement: ResultPlacement

    def events(self, run_id: str) -> list[Event]:
        """Every event of a run, in seq order; raises ``RunNotFound``."""
        self.storage.log.run(run_id)
        return self.storage.log.read(run_id)

    def logs(self, run_id: str, task_key: str | None = None) -> list[TaskLogLine]:
        """What the run's task attempts printed and logged, by task key, attempt and seq;
        raises ``RunNotFound``. Operational data: not part of the hash chain."""
        self.storage.log.run(run_id)
        return self.storage.task_logs.read_logs(run_id, task_key)

    def verify(
        self, run_id: str, checkpoint: Checkpoint | None = None, *, results: bool = False
    ) -> VerifyReport:
        """Re-hash the run's chain: ``.ok`` and ``.first_bad_seq`` of an edited or missing event;
        against a ``checkpoint`` of an earlier export, also a deleted tail or a rewrite. With
        ``results``, also re-hash every stored result its events refer to (``.results``: each
        one altered or missing, and then ``.ok`` is False)."""
        report = verify_run(self.storage, run_id, checkpoint)
        if not results:
            return report
        checked = check_results(self.events(run_id), self.storage.results, self.results_placement.open)
        return with_results(report, checked)

    def verify_all(self) -> dict[str, VerifyReport]:
        """Verify every run in the database: a report by run id."""
        return verify_all(self.storage)

    def export(
        self, run_id: str, target: str | os.PathLike[str] | BinaryIO, key: bytes | None = None
    ) -> ExportSummary:
        """Write the run as JSON Lines (header, events with their hashes, checkpoint) to a
        path or binary file, signed with HMAC-SHA256 if a ``key`` is given."""
        return export_run(self.storage, run_id, target, key=key, exported_by=f"ledgerflow {ENGINE_VERSION}")

    def state_at(self, run_id: str, seq: int | None = None, at: datetime | None = None) -> RunView:
        """The run's state as it was after event ``seq`` or at time ``at``."""
        return state_at(self.events(run_id), seq=seq, at=at)

    def diff(self, run_a: str, run_b: str) -> RunDiff:
        """Compare two runs: parameters, graph, code hashes, each task side by side, and
        what changed first; raises ``RunNotFound``."""
        return diff_runs(self.events(run_a), self.events(run_b))

    def lineage(self, run_id: str, task_key: str) -> Lineage:
        """Where a task's result came from: its inputs' results, code hash, attempt and worker,
        back to the parameters; raises ``RunNotFound`` or ``UnknownTask``."""
        return lineage(self.events(run_id), task_key)

    def plan_archive(
        self, older_than: timedelta, *, limit: int | None = None, now: datetime | None = None
    ) -> ArchivePlan:
        """The finished runs last updated more than ``older_than`` before ``now`` (default:
        the current time), newest first, that ``archive`` would take, and those it keeps."""
        return plan_archive(self.storage, (now or datetime.now(UTC)) - older_than, limit)

    def archive(
        self,
        plan: ArchivePlan,
        directory: str | os.PathLike[str],
        key: bytes | None = None,
        *,
        with_results: bool = False,
    ) -> ArchiveReport:
        """Export each run of ``plan`` to ``directory/<run_id>.jsonl`` (signed with ``key``),
        verify the file, then replace the run's events, results and logs by a tombstone.
        ``with_results`` first copies each stored result its events refer to into
        ``directory/<run_id>.results/<sha256>`` (checked), and removes the run's objects from
        their stores once it is archived; without it, objects in result stores stay."""
        return execute_archive(
            self.storage, plan, Path(directory), key=key, exported_by=f"ledgerflow {ENGINE_VERSION}",
            with_results=with_results, placement=self.results_placement,
        )  # fmt: skip

    def gc_results(
        self,
        older_than: timedelta = DEFAULT_AGE,
        execute: bool = False,
        *,
        stores: Collection[str] = (),
        now: datetime | None = None,
    ) -> ResultGcReport:
        """The stored results no event refers to, written more than ``older_than`` before
        ``now``, in the engine's result storage, every store the events name, ``stores`` and
        the database (see ``engine.result_gc``); with ``execute``, remove them. Raises
        ``DatabaseRequired`` on in-memory storage."""
        return collect_orphans(
            self.storage, self.results_placement, older_than, execute=execute, stores=stores, now=now
        )

    def archived_run(self, run_id: str) -> Tombstone | None:
        """The tombstone of an archived run (its head and archive file), or None (always on
        in-memory storage, where nothing is archived)."""
        if self.storage.database is None:
            return None
        return SqlArchive(self.storage.database).tombstone(run_id)

    def archived_runs(
        self, limit: int | None = None, *, flow: str | None = None,
        states: Collection[str] | None = None, since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Tombstone]:  # fmt: skip
        """Tombstones of archived runs, newest first, filtered as ``runs`` filters (none on
        in-memory storage, where nothing is archived)."""
        if self.storage.database is None:
            return []
        archive = SqlArchive(self.storage.database)
        return archive.tombstones(limit, flow=flow, states=states, since=since, until=until)
