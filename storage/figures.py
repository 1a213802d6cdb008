"""Figures of the whole store read from its read models at a metrics scrape: runs in progress,
runs waiting by queue, the slots of limited tags, the workers' heartbeats.

On a database each figure is one statement over an index (a scrape costs the same with a
thousand runs or ten million): the RUNNING and SCHEDULED runs through the ``(state, ...)``
indexes, the slots and waiters of a tag through their primary keys, which start with the tag.
In memory (``memory://``) the same figures come from the ports. Nothing here retries: a
scrape that finds the database away reports that, instead of waiting for it.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa

from . import schema
from .database import READ_ONLY, translated_errors
from .lease_terms import is_waiting_to_start, shown, utc_now
from .protocols import ConcurrencyLimits, LeasedLog, Workers
from .records import RUNNING
from .run_slots import FLOW_LIMIT_PREFIX

_RUNS = schema.runs
_LIMITS = schema.concurrency_limits
_SLOTS = schema.concurrency_slots
_WAITING = schema.concurrency_waiting
_WORKERS = schema.workers

SILENT_WORKER_HORIZON = timedelta(days=1)
"""A worker registered as running that has not beaten for longer than this (killed, its
machine gone) leaves the heartbeat figures: the series of replaced workers do not pile up."""


@dataclass(frozen=True, slots=True)
class TagSlots:
    """A limited tag: its limit, the slots its tasks hold and the tasks waiting for one."""

    tag: str
    limit: int
    used: int
    waiting: int


class StoreFigures(Protocol):
    """What a scrape reads of the whole store, at ``now`` (UTC)."""

    def runs_in_progress(self, now: datetime | None = None) -> int:
        """RUNNING runs, as listed (a run whose driver's lease expired is CRASHED, not counted)."""
        ...

    def runs_waiting(self, now: datetime | None = None) -> Mapping[str, int]:
        """SCHEDULED runs nobody holds, by queue (queues without any are left out)."""
        ...

    def tag_slots(self, now: datetime | None = None) -> list[TagSlots]:
        """Every tag with a limit (not the ``flow:NAME`` run limits), by name."""
        ...

    def heartbeats(self, now: datetime | None = None) -> Mapping[str, datetime]:
        """The last heartbeat of each worker registered as running, by name, but those silent
        for longer than ``SILENT_WORKER_HORIZON``."""
        ...


class SqlFigures:
    """``StoreFigures`` on a SQLAlchemy engine: one indexed statement per figure."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def runs_in_progress(self, now: datetime | None = None) -> int:
        now = utc_now(now)
        has_live_driver = sa.or_(  # else listed CRASHED (``lease_terms.shown``)
            _RUNS.c.owner.is_(None), _RUNS.c.lease_expires_at.is_(None), _RUNS.c.lease_expires_at > now
        )
        query = sa.select(sa.func.count()).where(_RUNS.c.state == "RUNNING", has_live_driver)
        with self._read() as connection:
            return int(connection.execute(query).scalar_one())

    def runs_waiting(self, now: datetime | None = None) -> Mapping[str, int]:
        now = utc_now(now)
        is_held = sa.and_(_RUNS.c.lease_expires_at.is_not(None), _RUNS.c.lease_expires_at > now)
        query = (
            sa.select(_RUNS.c.queue, sa.func.count())
            .where(_RUNS.c.state == "SCHEDULED", sa.not_(is_held))
            .group_by(_RUNS.c.queue)
        )
        with self._read() as connection:
            return {queue: count for queue, count in connection.execute(query)}

    def tag_slots(self, now: datetime | None = None) -> list[TagSlots]:
        now = utc_now(now)
        used = _held_count(_SLOTS, now).scalar_subquery()
        waiting = _held_count(_WAITING, now).scalar_subquery()
        query = (
            sa.select(_LIMITS.c.tag, _LIMITS.c.limit, used, waiting)
            .where(sa.not_(_LIMITS.c.tag.startswith(FLOW_LIMIT_PREFIX, autoescape=True)))
            .order_by(_LIMITS.c.tag)
        )
        with self._read() as connection:
            return [TagSlots(*row) for row in connection.execute(query)]

    def heartbeats(self, now: datetime | None = None) -> Mapping[str, datetime]:
        is_heard = _WORKERS.c.heartbeat_at >= utc_now(now) - SILENT_WORKER_HORIZON
        query = sa.select(_WORKERS.c.name, _WORKERS.c.heartbeat_at).where(
            _WORKERS.c.state == RUNNING, is_heard
        )
        with self._read() as connection:
            return {name: at for name, at in connection.execute(query)}

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with (
            translated_errors(self._engine),
            self._engine.connect().execution_options(**{READ_ONLY: True}) as connection,
        ):
            yield connection


def _held_count(table: sa.Table, now: datetime) -> sa.Select[Any]:
    """How many rows of ``table`` (slots or waiters) the limit's tag has whose owner still
    holds its run's lease (a dead driver's rows do not count, as for acquiring)."""
    is_held = sa.exists().where(
        _RUNS.c.run_id == table.c.run_id, _RUNS.c.owner == table.c.owner, _RUNS.c.lease_expires_at > now
    )
    return sa.select(sa.func.count()).where(table.c.tag == _LIMITS.c.tag, is_held)


class PortFigures:
    """``StoreFigures`` read through the ports (for in-memory stores, where that is cheap)."""

    def __init__(self, log: LeasedLog, limits: ConcurrencyLimits, workers: Workers) -> None:
        self._log, self._limits, self._workers = log, limits, workers

    def runs_in_progress(self, now: datetime | None = None) -> int:
        now = utc_now(now)
        return sum(shown(run, now).state == "RUNNING" for run in self._log.runs(states=["RUNNING"], now=now))

    def runs_waiting(self, now: datetime | None = None) -> Mapping[str, int]:
        now = utc_now(now)
        waiting: dict[str, int] = {}
        for run in self._log.runs(states=["SCHEDULED"], now=now):
            if is_waiting_to_start(run, now):
                waiting[run.queue] = waiting.get(run.queue, 0) + 1
        return waiting

    def tag_slots(self, now: datetime | None = None) -> list[TagSlots]:
        return [
            TagSlots(usage.tag, usage.limit, usage.in_use, len(usage.waiting))
            for usage in self._limits.limits(utc_now(now))
        ]

    def heartbeats(self, now: datetime | None = None) -> Mapping[str, datetime]:
        heard_since = utc_now(now) - SILENT_WORKER_HORIZON
        return {
            worker.name: worker.heartbeat_at
            for worker in self._workers.workers()
            if worker.state == RUNNING and worker.heartbeat_at >= heard_since
        }
