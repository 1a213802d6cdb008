"""Global concurrency limits by tag: slots taken before a task is submitted, held with a lease.

A limit caps how many tasks carrying a tag run at once, across every run and process
sharing the database; a tag without a limit is unlimited and 0 pauses it. A slot is a
row naming the driver (``owner``) that holds it. It counts only while that driver holds
its run's lease (``runs.owner`` and ``runs.lease_expires_at``), so a crashed driver's
slots come back when its lease expires; acquirers delete such slots as they go.

Acquiring is all or none across a task's tags and safe across processes: PostgreSQL
locks the limit rows ``FOR UPDATE`` in sorted tag order before counting; on SQLite the
write transaction is BEGIN IMMEDIATE, so acquirers run one at a time. A task that did
not get its slots is recorded as waiting (per blocking tag) until it gets them or is
released: the log keeps facts, this table shows who waits now.
"""

import logging
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from . import schema
from .database import READ_ONLY, retry_unavailable, translated_errors
from .lease_terms import utc_now
from .names import check_limit
from .records import FlowUsage, TagUsage, WaitingTask
from .run_slots import FLOW_LIMIT_PREFIX, HOLDING_STATES, flow_limit_name, limited_flow

logger = logging.getLogger(__name__)

_LIMITS = schema.concurrency_limits
_SLOTS = schema.concurrency_slots
_WAITING = schema.concurrency_waiting
_RUNS = schema.runs


def _is_held(table: sa.Table, now: datetime) -> sa.ColumnElement[bool]:
    """The row's owner still holds its run's lease at ``now``."""
    return sa.exists().where(
        _RUNS.c.run_id == table.c.run_id,
        _RUNS.c.owner == table.c.owner,
        _RUNS.c.lease_expires_at > now,
    )


class SqlLimits:
    """Concurrency limits and slots on a SQLAlchemy engine (``Storage.limits``).

    Times are the caller's clock (``now``, default the current UTC time), as for leases.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    @retry_unavailable
    def set_limit(self, tag: str, limit: int, now: datetime | None = None) -> None:
        """Cap the tasks tagged ``tag`` running at once at ``limit`` (0 pauses the tag)."""
        check_limit(tag, limit)
        values = {"limit": limit, "updated_at": utc_now(now)}
        with translated_errors(self._engine), self._engine.begin() as connection:
            done = connection.execute(_LIMITS.update().where(_LIMITS.c.tag == tag).values(**values))
            if done.rowcount == 0:
                try:
                    with connection.begin_nested():
                        connection.execute(_LIMITS.insert().values(tag=tag, **values))
                except sa_exc.IntegrityError:  # another process inserted it just now
                    connection.execute(_LIMITS.update().where(_LIMITS.c.tag == tag).values(**values))
        logger.info("limit of tag %s set to %d", tag, limit)

    @retry_unavailable
    def limits(self, now: datetime | None = None) -> list[TagUsage]:
        """Every tag with a limit, by name: its limit, slots in use and tasks waiting (not the
        limits of flows: see ``flow_limits``)."""
        now = utc_now(now)
        in_use = (
            sa.select(_SLOTS.c.tag, sa.func.count().label("n"))
            .where(_is_held(_SLOTS, now))
            .group_by(_SLOTS.c.tag)
        )
        waiting = (
            sa.select(_WAITING.c.tag, _WAITING.c.run_id, _WAITING.c.task_key, _WAITING.c.since)
            .where(_is_held(_WAITING, now))
            .order_by(_WAITING.c.since, _WAITING.c.run_id, _WAITING.c.task_key)
        )
        with translated_errors(self._engine), self._read() as connection:
            is_a_tag = sa.not_(_LIMITS.c.tag.startswith(FLOW_LIMIT_PREFIX, autoescape=True))
            tags = connection.execute(
                sa.select(_LIMITS.c.tag, _LIMITS.c.limit).where(is_a_tag).order_by(_LIMITS.c.tag)
            ).all()
            counts: dict[str, int] = {tag: n for tag, n in connection.execute(in_use)}
            waiters: dict[str, list[WaitingTask]] = {}
            for tag, run_id, task_key, since in connection.execute(waiting):
                waiters.setdefault(tag, []).append(WaitingTask(run_id, task_key, since))
        return [TagUsage(tag, limit, counts.get(tag, 0), tuple(waiters.get(tag, ()))) for tag, limit in tags]

    @retry_unavailable
    def flow_limits(
        self, now: datetime | None = None, flows: Collection[str] | None = None
    ) -> list[FlowUsage]:
        """Every flow (of ``flows``, if given) with a stored limit or unfinished runs that
        recorded one, by name: both limits, the runs holding a slot and those waiting (see
        ``storage.run_slots``)."""
        now = utc_now(now)
        settings_query = sa.select(_LIMITS.c.tag, _LIMITS.c.limit).where(
            _LIMITS.c.tag.startswith(FLOW_LIMIT_PREFIX, autoescape=True)
        )
        is_held = sa.and_(_RUNS.c.lease_expires_at.is_not(None), _RUNS.c.lease_expires_at > now)
        held = sa.func.sum(sa.case((is_held, 1), else_=0))
        waiting = sa.func.sum(sa.case((is_held, 0), else_=1))  # SCHEDULED, crashed or handed back
        runs_query = (
            sa.select(_RUNS.c.flow, sa.func.min(_RUNS.c.max_concurrent_runs), held, waiting)
            .where(_RUNS.c.state.in_(HOLDING_STATES))
            .group_by(_RUNS.c.flow)
        )
        if flows is not None:
            names = sorted(set(flows))
            settings_query = settings_query.where(_LIMITS.c.tag.in_([flow_limit_name(f) for f in names]))
            runs_query = runs_query.where(_RUNS.c.flow.in_(names))
        with translated_errors(self._engine), self._read() as connection:
            settings = {limited_flow(tag): limit for tag, limit in connection.execute(settings_query)}
            stats = {
                flow: (recorded, int(h), int(w)) for flow, recorded, h, w in connection.execute(runs_query)
            }
        usages = []
        for flow in sorted({*(f for f in settings if f is not None), *stats}):
            recorded, in_use, waits = stats.get(flow, (None, 0, 0))
            if flow in settings or recorded is not None:
                usages.append(FlowUsage(flow, settings.get(flow), recorded, in_use, waits))
        return usages

    @retry_unavailable
    def try_acquire_many(
        self, run_id: str, tasks: Sequence[tuple[str, Iterable[str]]], owner: str,
        now: datetime | None = None,
    ) -> set[str]:  # fmt: skip
        """Take one slot of every limited tag of each task, or none, in one transaction,
        in the tasks' order.

        Returns the keys of the tasks that may start (they hold their slots, or none of
        their tags is limited); each of the others is recorded as waiting on the tags that
        were full when its turn came. ``owner`` must hold the run's lease: the slots live
        as long as it does.
        """
        wanted = {key: sorted(set(tags)) for key, tags in tasks}
        all_tags = sorted({tag for tags in wanted.values() for tag in tags})
        if not all_tags:
            return set(wanted)
        now = utc_now(now)
        with translated_errors(self._engine), self._engine.begin() as connection:
            locked = (
                sa.select(_LIMITS.c.tag, _LIMITS.c.limit)
                .where(_LIMITS.c.tag.in_(all_tags))
                .order_by(_LIMITS.c.tag)
                .with_for_update()
            )
            limits = {tag: limit for tag, limit in connection.execute(locked)}
            if not limits:
                return set(wanted)
            limited = {key: [tag for tag in tags if tag in limits] for key, tags in wanted.items()}
            keys = [key for key, tags in limited.items() if tags]
            free = _free_slots(connection, run_id, keys, limits, now)
            granted, slots, waits = set(wanted), [], []
            for key in keys:
                full = [tag for tag in limited[key] if free[tag] <= 0]
                if full:
                    granted.discard(key)
                    waits += [{"tag": tag, "task_key": key, "since": now} for tag in full]
                    continue
                for tag in limited[key]:
                    free[tag] -= 1
                slots += [{"tag": tag, "task_key": key, "acquired_at": now} for tag in limited[key]]
            connection.execute(
                _WAITING.delete().where(_WAITING.c.run_id == run_id, _WAITING.c.task_key.in_(keys))
            )
            for table, rows in ((_SLOTS, slots), (_WAITING, waits)):
                if rows:
                    connection.execute(
                        table.insert(), [{**row, "run_id": run_id, "owner": owner} for row in rows]
                    )
        if len(granted) < len(wanted):
            logger.debug("run %s: %d task(s) wait for slots", run_id, len(wanted) - len(granted))
        return granted

    @retry_unavailable
    def release(self, run_id: str, *task_keys: str) -> None:
        """Give back the slots of these tasks of the run, and forget that they wait."""
        if not task_keys:
            return
        with translated_errors(self._engine), self._engine.begin() as connection:
            for table in (_SLOTS, _WAITING):
                connection.execute(
                    table.delete().where(table.c.run_id == run_id, table.c.task_key.in_(task_keys))
                )

    @retry_unavailable
    def release_run(self, run_id: str, owner: str | None = None) -> None:
        """Give back every slot of the run (only those ``owner`` holds, if given)."""
        with translated_errors(self._engine), self._engine.begin() as connection:
            for table in (_SLOTS, _WAITING):
                query = table.delete().where(table.c.run_id == run_id)
                if owner is not None:
                    query = query.where(table.c.owner == owner)
                connection.execute(query)

    def _read(self) -> sa.Connection:
        return self._engine.connect().execution_options(**{READ_ONLY: True})


def _free_slots(
    connection: sa.Connection, run_id: str, task_keys: list[str], limits: dict[str, int], now: datetime
) -> dict[str, int]:
    """Slots left per tag, after deleting lapsed slots and the tasks' own (a new attempt,
    or a new driver, takes them again)."""
    tags = list(limits)
    for table in (_SLOTS, _WAITING):
        connection.execute(table.delete().where(table.c.tag.in_(tags), sa.not_(_is_held(table, now))))
    mine = (_SLOTS.c.run_id == run_id, _SLOTS.c.task_key.in_(task_keys))
    connection.execute(_SLOTS.delete().where(_SLOTS.c.tag.in_(tags), *mine))
    count = sa.select(_SLOTS.c.tag, sa.func.count()).where(_SLOTS.c.tag.in_(tags)).group_by(_SLOTS.c.tag)
    used: dict[str, int] = {tag: n for tag, n in connection.execute(count)}
    return {tag: limit - used.get(tag, 0) for tag, limit in limits.items()}
