"""The worker registry in memory (the semantics of ``storage.workers``)."""

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from ...engine.core.run_terms import DEFAULT_QUEUE
from ..lease_terms import utc_now
from ..records import RUNNING, STOPPED, WorkerRecord
from .tables import MemoryTables

logger = logging.getLogger(__name__)


class MemoryWorkers:
    """``Workers`` in memory; times are the caller's clock (UTC)."""

    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    def register(
        self, name: str, host: str, pid: int, now: datetime | None = None, *,
        max_runs: int | None = None, queues: Sequence[str] = (DEFAULT_QUEUE,),
    ) -> None:  # fmt: skip
        """Record ``name`` as running since ``now`` (a name seen before starts afresh), driving
        up to ``max_runs`` runs at once from ``queues``."""
        now = utc_now(now)
        record = WorkerRecord(name, host, pid, now, now, 0, RUNNING, max_runs, tuple(queues))
        with self._tables.lock:
            self._tables.workers[name] = record
        logger.info("worker %s registered (host %s, pid %s)", name, host, pid)

    def heartbeat(
        self, name: str, runs_driven: int = 0, now: datetime | None = None, *, in_flight: int | None = None
    ) -> bool:
        """Stamp the heartbeat, add ``runs_driven`` and set the runs ``in_flight`` (if given);
        False if ``name`` is not registered."""
        now = utc_now(now)
        with self._tables.lock:
            known = self._tables.workers.get(name)
            if known is None:
                return False
            driven = known.runs_driven + runs_driven
            flying = known.in_flight if in_flight is None else in_flight
            self._tables.workers[name] = replace(
                known, heartbeat_at=now, runs_driven=driven, in_flight=flying
            )
        return True

    def mark_stopped(self, name: str, now: datetime | None = None) -> None:
        """Record that ``name`` exited cleanly."""
        now = utc_now(now)
        with self._tables.lock:
            known = self._tables.workers.get(name)
            if known is not None:
                self._tables.workers[name] = replace(known, state=STOPPED, heartbeat_at=now, in_flight=0)
        logger.info("worker %s stopped", name)

    def workers(self) -> list[WorkerRecord]:
        """Every registered worker, most recently started first."""
        with self._tables.lock:
            workers = list(self._tables.workers.values())
        workers.sort(key=lambda worker: worker.name)
        return sorted(workers, key=lambda worker: worker.started_at, reverse=True)
