"""The worker registry: each ``ledgerflow worker`` registers, heartbeats and signs off here.

The registry is operational data, not a fact of the log: it says which workers poll
the database and whether they still beat, so an operator can see their health. Times
are the caller's clock (UTC), like leases.
"""

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..engine.core.run_terms import DEFAULT_QUEUE
from . import schema
from .database import READ_ONLY, retry_unavailable, translated_errors
from .lease_terms import utc_now
from .records import RUNNING, STOPPED, WorkerRecord

logger = logging.getLogger(__name__)

_WORKERS = schema.workers


class WorkerRegistry:
    """The ``workers`` table on one database engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    @retry_unavailable
    def register(
        self, name: str, host: str, pid: int, now: datetime | None = None, *,
        max_runs: int | None = None, queues: Sequence[str] = (DEFAULT_QUEUE,),
    ) -> None:  # fmt: skip
        """Record ``name`` as running since ``now`` (a name seen before starts afresh), driving
        up to ``max_runs`` runs at once from ``queues``."""
        now = utc_now(now)
        row = {
            "host": host,
            "pid": pid,
            "started_at": now,
            "heartbeat_at": now,
            "runs_driven": 0,
            "state": RUNNING,
            "max_runs": max_runs,
            "queues": list(queues),
            "in_flight": 0,
        }
        with translated_errors(self._engine), self._engine.begin() as connection:
            done = connection.execute(_WORKERS.update().where(_WORKERS.c.name == name).values(**row))
            if done.rowcount == 0:
                connection.execute(_WORKERS.insert().values(name=name, **row))
        logger.info("worker %s registered (host %s, pid %s)", name, host, pid)

    @retry_unavailable
    def heartbeat(
        self, name: str, runs_driven: int = 0, now: datetime | None = None, *, in_flight: int | None = None
    ) -> bool:
        """Stamp the heartbeat, add ``runs_driven`` and set the runs ``in_flight`` (if given);
        False if ``name`` is not registered."""
        now = utc_now(now)
        values: dict[str, object] = {"heartbeat_at": now, "runs_driven": _WORKERS.c.runs_driven + runs_driven}
        if in_flight is not None:
            values["in_flight"] = in_flight
        with translated_errors(self._engine), self._engine.begin() as connection:
            done = connection.execute(_WORKERS.update().where(_WORKERS.c.name == name).values(**values))
        return done.rowcount == 1

    @retry_unavailable
    def mark_stopped(self, name: str, now: datetime | None = None) -> None:
        """Record that ``name`` exited cleanly."""
        now = utc_now(now)
        with translated_errors(self._engine), self._engine.begin() as connection:
            connection.execute(
                _WORKERS.update()
                .where(_WORKERS.c.name == name)
                .values(state=STOPPED, heartbeat_at=now, in_flight=0)
            )
        logger.info("worker %s stopped", name)

    @retry_unavailable
    def workers(self) -> list[WorkerRecord]:
        """Every registered worker, most recently started first."""
        query = sa.select(_WORKERS).order_by(_WORKERS.c.started_at.desc(), _WORKERS.c.name)
        with (
            translated_errors(self._engine),
            self._engine.connect().execution_options(**{READ_ONLY: True}) as connection,
        ):
            return [_record(row._asdict()) for row in connection.execute(query)]


def _record(row: dict[str, Any]) -> WorkerRecord:
    """A row of ``workers`` as a record (its queues a tuple)."""
    queues = row.pop("queues")
    return WorkerRecord(**row, queues=None if queues is None else tuple(queues))
