"""Concurrency limits and schedules on ``Engine`` (mixed into it): what is set once and
read by every driver, worker and scheduler sharing the database."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..storage import ScheduleRecord, Storage
from ..storage.protocols import TagUsage
from .flow import Flow
from .schedule_runner import define_schedule


class SettingsAPI:
    """Set and read tag limits and schedules."""

    storage: Storage
    home: Path

    def set_limit(self, tag: str, limit: int) -> None:
        """Let at most ``limit`` tasks tagged ``tag`` run at once, across every run and
        process on this database (0 pauses the tag; raises ``ValueError`` below 0, and
        ``InvalidName`` for a tag that cannot name one: see ``storage.names``)."""
        self.storage.limits.set_limit(tag, limit)

    def limits(self) -> list[TagUsage]:
        """Every tag with a limit: the limit, the slots in use and the tasks waiting."""
        return self.storage.limits.limits()

    def schedule(
        self, name: str, flow: Flow[..., Any], *, cron: str | None = None, interval: str | int | None = None,
        tz: str = "UTC", parameters: Mapping[str, Any] | None = None, catchup: str = "latest",
        fire_time_param: str | None = None,
    ) -> ScheduleRecord:  # fmt: skip
        """Store a schedule: run ``flow`` at each fire time of ``cron`` (on the wall clock of
        ``tz``) or every ``interval`` (``"15m"`` or seconds). ``catchup`` is ``skip``,
        ``latest`` or ``backfill:N``. A ``ScheduleRunner`` (``ledgerflow scheduler`` or a
        worker) creates the runs; see ``engine.schedule_runner``. A secret parameter is stored
        as its keyed hash: its runs take the value from ``LEDGERFLOW_SECRET_<NAME>``."""
        record = define_schedule(
            name, flow, cron=cron, interval=interval, tz=tz, parameters=parameters,
            catchup=catchup, fire_time_param=fire_time_param, home=self.home,
        )  # fmt: skip
        self.storage.schedules.add(record)
        return record

    def schedules(self) -> list[ScheduleRecord]:
        """Every schedule, by name."""
        return self.storage.schedules.schedules()

    def pause_schedule(self, name: str) -> None:
        """Stop creating runs of a schedule until it is resumed."""
        self.storage.schedules.set_paused(name, True)

    def resume_schedule(self, name: str) -> None:
        """Create runs of a paused schedule again, from now on (paused fire times are skipped)."""
        self.storage.schedules.set_paused(name, False)

    def remove_schedule(self, name: str) -> None:
        """Delete a schedule (its runs stay)."""
        self.storage.schedules.remove(name)
