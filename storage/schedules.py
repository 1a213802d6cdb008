"""Schedules and their fire times in the database: each (schedule, fire time) claimed once.

A schedule row says what to run (a flow reference and parameters), when (a cron
expression in a time zone, or an interval), its catch-up policy, whether it is paused,
and up to when its fire times have been considered. A ``schedule_fires`` row is the
claim of one fire time: its primary key (schedule, fire time) is what makes a fire time
produce at most one claim, whichever processes race for it. The claim names the run id
to create, and ``run_created_at`` stays null until that run exists, so a process that
died in between leaves a pending fire that any later process completes.

Deciding which fire times are due happens with the schedule's row locked (``FOR UPDATE``
on PostgreSQL; SQLite's write transaction is BEGIN IMMEDIATE), so racing schedulers
decide one after another; the primary key holds even without that.
"""

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from . import schema
from .database import READ_ONLY, retry_unavailable, translated_errors
from .errors import ScheduleExists, ScheduleNotFound
from .lease_terms import utc_now
from .names import check_name
from .records import MAX_ERROR_LENGTH, DecideFires, FireRecord, RunIdFor, ScheduleRecord

logger = logging.getLogger(__name__)

_SCHEDULES = schema.schedules
_FIRES = schema.schedule_fires


def _record(row: Any) -> ScheduleRecord:
    values = row._asdict()
    values["is_paused"] = bool(values.pop("paused"))
    return ScheduleRecord(**values)


class SqlSchedules:
    """The ``schedules`` and ``schedule_fires`` tables on one database engine.

    Times are the caller's clock (``now``, default the current UTC time), as for leases.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    @retry_unavailable
    def add(self, record: ScheduleRecord) -> None:
        """Store a new schedule; raises ``ScheduleExists`` if the name is taken, ``InvalidName``
        if it cannot name a schedule (see ``storage.names``)."""
        check_name("schedule name", record.name)
        values = {field: getattr(record, field) for field in ScheduleRecord.__slots__}
        values["paused"] = values.pop("is_paused")
        with translated_errors(self._engine), self._engine.begin() as connection:
            if connection.execute(_select(record.name)).first() is not None:
                raise ScheduleExists(record.name)
            if not _insert_ignoring(connection, _SCHEDULES, values):  # another process added it since
                raise ScheduleExists(record.name)
        logger.info("schedule %s added (%s)", record.name, record.flow_ref)

    @retry_unavailable
    def get(self, name: str) -> ScheduleRecord:
        """The schedule named ``name``; raises ``ScheduleNotFound``."""
        with translated_errors(self._engine), self._read() as connection:
            row = connection.execute(_select(name)).first()
        if row is None:
            raise ScheduleNotFound(name)
        return _record(row)

    @retry_unavailable
    def schedules(self) -> list[ScheduleRecord]:
        """Every schedule, by name."""
        with translated_errors(self._engine), self._read() as connection:
            rows = connection.execute(sa.select(_SCHEDULES).order_by(_SCHEDULES.c.name)).all()
        return [_record(row) for row in rows]

    @retry_unavailable
    def set_paused(self, name: str, is_paused: bool, now: datetime | None = None) -> None:
        """Pause or resume a schedule; resuming considers the paused time done (no catch-up
        of fire times that passed while paused). Raises ``ScheduleNotFound``."""
        now = utc_now(now)
        values: dict[str, Any] = {"paused": is_paused, "updated_at": now}
        query = _SCHEDULES.update().where(_SCHEDULES.c.name == name)
        if not is_paused:  # only a paused schedule skips ahead
            values["considered_until"] = now
            query = query.where(_SCHEDULES.c.paused.is_(True))
        with translated_errors(self._engine), self._engine.begin() as connection:
            if connection.execute(_select(name)).first() is None:
                raise ScheduleNotFound(name)
            connection.execute(query.values(**values))
        logger.info("schedule %s %s", name, "paused" if is_paused else "resumed")

    @retry_unavailable
    def set_parameters(self, name: str, parameters: dict[str, Any], now: datetime | None = None) -> None:
        """Replace a schedule's parameters (as recorded: secret ones as keyed hashes)."""
        with translated_errors(self._engine), self._engine.begin() as connection:
            query = _SCHEDULES.update().where(_SCHEDULES.c.name == name)
            connection.execute(query.values(parameters=parameters, updated_at=utc_now(now)))

    @retry_unavailable
    def remove(self, name: str) -> None:
        """Delete a schedule and its fire records (the runs stay); raises ``ScheduleNotFound``."""
        with translated_errors(self._engine), self._engine.begin() as connection:
            connection.execute(_FIRES.delete().where(_FIRES.c.schedule == name))
            if connection.execute(_SCHEDULES.delete().where(_SCHEDULES.c.name == name)).rowcount == 0:
                raise ScheduleNotFound(name)
        logger.info("schedule %s removed", name)

    @retry_unavailable
    def claim_due(
        self, name: str, decide: DecideFires, run_id_for: RunIdFor, now: datetime | None = None
    ) -> list[FireRecord]:
        """With the schedule locked, claim the fire times ``decide`` returns and mark
        everything up to ``now`` considered. Returns the claims made here (a fire time
        claimed before, by any process, is not claimed again); none for a paused or
        missing schedule."""
        now = utc_now(now)
        with translated_errors(self._engine), self._engine.begin() as connection:
            row = connection.execute(_select(name).with_for_update()).first()
            if row is None or row.paused or row.considered_until >= now:
                return []
            record = _record(row)
            claimed = _claim(connection, record, decide(record), run_id_for, now)
            connection.execute(
                _SCHEDULES.update().where(_SCHEDULES.c.name == name).values(considered_until=now)
            )
        if claimed:
            logger.info("schedule %s: claimed %d fire time(s)", name, len(claimed))
        return claimed

    @retry_unavailable
    def claim(
        self, name: str, fire_times: Iterable[datetime], run_id_for: RunIdFor, now: datetime | None = None
    ) -> list[FireRecord]:
        """Claim these fire times of a schedule (a backfill), skipping those claimed before;
        returns the claims made here. Raises ``ScheduleNotFound``."""
        now = utc_now(now)
        with translated_errors(self._engine), self._engine.begin() as connection:
            row = connection.execute(_select(name)).first()
            if row is None:
                raise ScheduleNotFound(name)
            return _claim(connection, _record(row), list(fire_times), run_id_for, now)

    @retry_unavailable
    def fires(
        self, name: str | None = None, *, is_pending: bool | None = None, limit: int | None = None
    ) -> list[FireRecord]:
        """Claimed fire times, newest first: of one schedule or all, pending ones or done ones."""
        query = sa.select(_FIRES).order_by(_FIRES.c.fire_time.desc(), _FIRES.c.schedule)
        if name is not None:
            query = query.where(_FIRES.c.schedule == name)
        if is_pending is not None:
            created = _FIRES.c.run_created_at
            query = query.where(created.is_(None) if is_pending else created.is_not(None))
        if limit is not None:
            query = query.limit(limit)
        with translated_errors(self._engine), self._read() as connection:
            return [FireRecord(**row._asdict()) for row in connection.execute(query)]

    @retry_unavailable
    def last_fires(self) -> dict[str, FireRecord]:
        """The latest claimed fire time of each schedule, by schedule name."""
        latest = (
            sa.select(_FIRES.c.schedule, sa.func.max(_FIRES.c.fire_time).label("fire_time"))
            .group_by(_FIRES.c.schedule)
            .subquery()
        )
        query = sa.select(_FIRES).join(
            latest, sa.and_(_FIRES.c.schedule == latest.c.schedule, _FIRES.c.fire_time == latest.c.fire_time)
        )
        with translated_errors(self._engine), self._read() as connection:
            return {row.schedule: FireRecord(**row._asdict()) for row in connection.execute(query)}

    @retry_unavailable
    def mark_created(self, fire: FireRecord, now: datetime | None = None) -> None:
        """Record that the run of ``fire`` exists."""
        now = utc_now(now)
        with translated_errors(self._engine), self._engine.begin() as connection:
            connection.execute(
                _FIRES.update()
                .where(_FIRES.c.schedule == fire.schedule, _FIRES.c.fire_time == fire.fire_time)
                .where(_FIRES.c.run_created_at.is_(None))
                .values(run_created_at=now)
            )

    @retry_unavailable
    def record_error(self, name: str, error: str | None) -> None:
        """Keep the last error of creating a run of the schedule (None clears it)."""
        shown = error[:MAX_ERROR_LENGTH] if error is not None else None
        with translated_errors(self._engine), self._engine.begin() as connection:
            connection.execute(
                _SCHEDULES.update()
                .where(_SCHEDULES.c.name == name, _SCHEDULES.c.last_error.is_distinct_from(shown))
                .values(last_error=shown)
            )

    def _read(self) -> sa.Connection:
        return self._engine.connect().execution_options(**{READ_ONLY: True})


def _select(name: str) -> sa.Select[Any]:
    return sa.select(_SCHEDULES).where(_SCHEDULES.c.name == name)


def _insert_ignoring(connection: sa.Connection, table: sa.Table, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on either database: True if the row was inserted."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    insert = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return connection.execute(insert).first() is not None


def _claim(
    connection: sa.Connection, record: ScheduleRecord, fire_times: Sequence[datetime],
    run_id_for: RunIdFor, now: datetime,
) -> list[FireRecord]:  # fmt: skip
    claimed = []
    for fire_time in sorted(set(fire_times)):
        fire = FireRecord(record.name, fire_time, run_id_for(record, fire_time), now, None)
        values = {field: getattr(fire, field) for field in FireRecord.__slots__}
        if _insert_ignoring(connection, _FIRES, values):
            claimed.append(fire)
    return claimed
