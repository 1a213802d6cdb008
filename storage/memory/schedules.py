"""Schedules and their claimed fire times in memory: each (schedule, fire time) claimed once
(the semantics of ``storage.schedules``; the tables' lock stands for the row lock)."""

import copy
import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..errors import ScheduleExists, ScheduleNotFound
from ..lease_terms import utc_now
from ..names import check_name
from ..records import MAX_ERROR_LENGTH, DecideFires, FireRecord, RunIdFor, ScheduleRecord
from .tables import MemoryTables

logger = logging.getLogger(__name__)


def _own(record: ScheduleRecord) -> ScheduleRecord:
    """The record with parameters of its own (as a database returns a fresh copy)."""
    return replace(record, parameters=copy.deepcopy(record.parameters))


class MemorySchedules:
    """``Schedules`` in memory; times are the caller's clock (UTC), as for leases."""

    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    def add(self, record: ScheduleRecord) -> None:
        """Store a new schedule; raises ``ScheduleExists`` if the name is taken, ``InvalidName``
        if it cannot name a schedule."""
        check_name("schedule name", record.name)
        with self._tables.lock:
            if record.name in self._tables.schedules:
                raise ScheduleExists(record.name)
            self._tables.schedules[record.name] = _own(record)
        logger.info("schedule %s added (%s)", record.name, record.flow_ref)

    def _get(self, name: str) -> ScheduleRecord:
        record = self._tables.schedules.get(name)
        if record is None:
            raise ScheduleNotFound(name)
        return record

    def get(self, name: str) -> ScheduleRecord:
        """The schedule named ``name``; raises ``ScheduleNotFound``."""
        with self._tables.lock:
            return _own(self._get(name))

    def schedules(self) -> list[ScheduleRecord]:
        """Every schedule, by name."""
        with self._tables.lock:
            return [_own(record) for _, record in sorted(self._tables.schedules.items())]

    def set_paused(self, name: str, is_paused: bool, now: datetime | None = None) -> None:
        """Pause or resume a schedule; resuming considers the paused time done (no catch-up
        of fire times that passed while paused). Raises ``ScheduleNotFound``."""
        now = utc_now(now)
        with self._tables.lock:
            record = self._get(name)
            if is_paused:
                self._tables.schedules[name] = replace(record, is_paused=True, updated_at=now)
            elif record.is_paused:  # only a paused schedule skips ahead
                self._tables.schedules[name] = replace(
                    record, is_paused=False, updated_at=now, considered_until=now
                )
        logger.info("schedule %s %s", name, "paused" if is_paused else "resumed")

    def set_parameters(self, name: str, parameters: dict[str, Any], now: datetime | None = None) -> None:
        """Replace a schedule's parameters (as recorded: secret ones as keyed hashes)."""
        now = utc_now(now)
        with self._tables.lock:
            record = self._tables.schedules.get(name)
            if record is not None:
                self._tables.schedules[name] = replace(
                    record, parameters=copy.deepcopy(parameters), updated_at=now
                )

    def remove(self, name: str) -> None:
        """Delete a schedule and its fire records (the runs stay); raises ``ScheduleNotFound``."""
        with self._tables.lock:
            fires = self._tables.fires
            for key in [key for key in fires if key[0] == name]:
                del fires[key]
            if self._tables.schedules.pop(name, None) is None:
                raise ScheduleNotFound(name)
        logger.info("schedule %s removed", name)

    def claim_due(
        self, name: str, decide: DecideFires, run_id_for: RunIdFor, now: datetime | None = None
    ) -> list[FireRecord]:
        """With the schedule locked, claim the fire times ``decide`` returns and mark
        everything up to ``now`` considered; none for a paused or missing schedule."""
        now = utc_now(now)
        with self._tables.lock:
            record = self._tables.schedules.get(name)
            if record is None or record.is_paused or record.considered_until >= now:
                return []
            claimed = self._claim(_own(record), decide(_own(record)), run_id_for, now)
            self._tables.schedules[name] = replace(self._get(name), considered_until=now)
        if claimed:
            logger.info("schedule %s: claimed %d fire time(s)", name, len(claimed))
        return claimed

    def claim(
        self, name: str, fire_times: Iterable[datetime], run_id_for: RunIdFor, now: datetime | None = None
    ) -> list[FireRecord]:
        """Claim these fire times of a schedule (a backfill), skipping those claimed before;
        returns the claims made here. Raises ``ScheduleNotFound``."""
        now = utc_now(now)
        with self._tables.lock:
            record = _own(self._get(name))
            return self._claim(record, list(fire_times), run_id_for, now)

    def _claim(
        self, record: ScheduleRecord, fire_times: Sequence[datetime], run_id_for: RunIdFor, now: datetime
    ) -> list[FireRecord]:
        claimed = []
        for fire_time in sorted(set(fire_times)):
            key = (record.name, fire_time)
            if key not in self._tables.fires:
                fire = FireRecord(record.name, fire_time, run_id_for(record, fire_time), now, None)
                self._tables.fires[key] = fire
                claimed.append(fire)
        return claimed

    def fires(
        self, name: str | None = None, *, is_pending: bool | None = None, limit: int | None = None
    ) -> list[FireRecord]:
        """Claimed fire times, newest first: of one schedule or all, pending ones or done ones."""
        with self._tables.lock:
            found = [
                fire for fire in self._tables.fires.values()
                if (name is None or fire.schedule == name)
                and (is_pending is None or fire.is_pending == is_pending)
            ]  # fmt: skip
        found.sort(key=lambda fire: fire.schedule)
        found.sort(key=lambda fire: fire.fire_time, reverse=True)
        return found if limit is None else found[: max(0, limit)]

    def last_fires(self) -> dict[str, FireRecord]:
        """The latest claimed fire time of each schedule, by schedule name."""
        latest: dict[str, FireRecord] = {}
        with self._tables.lock:
            for fire in self._tables.fires.values():
                known = latest.get(fire.schedule)
                if known is None or fire.fire_time > known.fire_time:
                    latest[fire.schedule] = fire
        return latest

    def mark_created(self, fire: FireRecord, now: datetime | None = None) -> None:
        """Record that the run of ``fire`` exists."""
        now = utc_now(now)
        key = (fire.schedule, fire.fire_time)
        with self._tables.lock:
            stored = self._tables.fires.get(key)
            if stored is not None and stored.run_created_at is None:
                self._tables.fires[key] = replace(stored, run_created_at=now)

    def record_error(self, name: str, error: str | None) -> None:
        """Keep the last error of creating a run of the schedule (None clears it)."""
        shown = error[:MAX_ERROR_LENGTH] if error is not None else None
        with self._tables.lock:
            record = self._tables.schedules.get(name)
            if record is not None:
                self._tables.schedules[name] = replace(record, last_error=shown)
