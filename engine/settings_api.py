"""Concurrency limits and schedules on ``Engine`` (mixed into it): what is set once and
read by every driver, worker and scheduler sharing the database."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..storage import FlowUsage, RunSummary, ScheduleRecord, Storage, TagUsage
from .flow import Flow
from .queueing import FlowWait, flow_waits
from .schedule_runner import define_schedule


class SettingsAPI:
    """Set and read tag and flow limits and schedules."""

    storage: Storage
    home: Path
    lease_ttl: float

    def set_limit(self, tag: str, limit: int) -> None:
        """Let at most ``limit`` tasks tagged ``tag`` run at once, across every run and
        process on this database (0 pauses the tag; raises ``ValueError`` below 0, and
        ``InvalidName`` for a tag that cannot name one: see ``storage.names``).

        ``flow:NAME`` caps instead how many runs of flow NAME workers drive at once; it wins
        over the ``max_concurrent_runs`` its runs recorded (0 pauses the flow's runs)."""
        self.storage.limits.set_limit(tag, limit)

    def limits(self) -> list[TagUsage]:
        """Every tag with a limit: the limit, the slots in use and the tasks waiting."""
        return self.storage.limits.limits()

    def flow_limits(self) -> list[FlowUsage]:
        """Every flow whose runs are limited (a ``flow:NAME`` limit, or unfinished runs that
        recorded ``max_concurrent_runs``): its limits, runs driven and runs waiting."""
        return self.storage.limits.flow_limits()

    def flow_waits(self, runs: Sequence[RunSummary]) -> dict[str, FlowWait]:
        """The runs among ``runs`` (summaries) that wait for a slot of their flow's run limit
        to be claimed (SCHEDULED, or CRASHED: their driver died), by run id."""
        return flow_waits(self.storage.limits, runs, self.lease_ttl)

    def schedule(
        self, name: str, flow: Flow[..., Any], *, cron: str | None = None, interval: str | int | None = None,
        tz: str = "UTC", parameters: Mapping[str, Any] | None = None, catchup: str = "latest",
        fire_time_param: str | None = None, queue: str | None = None, priority: int | None = None,
    ) -> ScheduleRecord:  # fmt: skip
        """Store a schedule: run ``flow`` at each fire time of ``cron`` (on the wall clock of
        ``tz``) or every ``interval`` (``"15m"`` or seconds). ``catchup`` is ``skip``,
        ``latest`` or ``backfill:N``. A ``ScheduleRunner`` (``ledgerflow scheduler`` or a
        worker) creates the runs, in ``queue`` with ``priority`` (None: the flow's); see
        ``engine.schedule_runner``. A secret parameter is stored as its keyed hash: its runs
        take the value from ``LEDGERFLOW_SECRET_<NAME>``."""
        record = define_schedule(
            name, flow, cron=cron, interval=interval, tz=tz, parameters=parameters,
            catchup=catchup, fire_time_param=fire_time_param, home=self.home, queue=queue,
            priority=priority,
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
