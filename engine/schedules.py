"""Schedules' timing as users write it: cron expressions (read by croniter), intervals and
time zones, checked and wired into the fire-time decisions of ``engine/core/fire_times.py``.

croniter lists the wall-clock times a cron expression matches, as naive local times; the
core turns them into instants by its daylight-saving rule and decides what is due.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from .core.fire_times import InvalidSchedule, fire_times_between, interval_fire_times, wall_clock_fire_times
from .moments import MAX_DAYS, MAX_DURATION, OutOfRange, is_duration, parse_duration

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> int:
    """Seconds of an interval such as ``90s``, ``15m``, ``2h`` or ``1d``; raises ``InvalidSchedule``."""
    try:
        seconds = int(parse_duration(text).total_seconds()) if is_duration(text) else 0
    except OutOfRange as exc:
        raise InvalidSchedule(None, f"interval {text!r} {exc}") from None
    if seconds == 0:
        raise InvalidSchedule(
            None, f"interval {text!r}: expected a positive whole number and a unit s, m, h or d (e.g. 15m)"
        )
    return seconds


def format_interval(seconds: int) -> str:
    """The shortest spelling of an interval: 900 -> ``15m``."""
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; raises ``InvalidSchedule`` for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(
            None, f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin or UTC"
        ) from None


def _check_cron(expression: str) -> None:
    """Raise ``InvalidSchedule`` unless ``expression`` is a cron expression that fires."""
    if not croniter.is_valid(expression):
        raise InvalidSchedule(
            None, f"bad cron expression {expression!r}: expected 5 fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 2 * * *'",
        )  # fmt: skip
    try:
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterError:
        raise InvalidSchedule(None, f"cron expression {expression!r} never fires") from None


@dataclass(frozen=True, slots=True)
class CronWallTimes:
    """The wall-clock times a (checked) cron expression matches: the core's ``WallTimes``."""

    expression: str

    @property
    def matches_every_hour(self) -> bool:
        """The hour field is ``*`` or lists all 24 hours."""
        hours = set(croniter(self.expression).expanded[1])
        return hours == {"*"} or len(hours) == 24

    def after(self, wall: datetime) -> Iterator[datetime]:
        """The matching naive wall-clock times strictly after ``wall``; ends where croniter
        finds no further match."""
        walls = croniter(self.expression, wall)
        while True:
            try:
                yield walls.get_next(datetime)
            except CroniterError:
                return


@dataclass(frozen=True, slots=True)
class Timing:
    """When a schedule fires: exactly one of a cron expression (in ``tz``) or an interval."""

    cron: str | None
    interval_seconds: int | None
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.interval_seconds is None):
            raise InvalidSchedule(None, "give exactly one of a cron expression or an interval")
        time_zone(self.tz)
        if self.interval_seconds is not None and self.interval_seconds <= 0:
            raise InvalidSchedule(None, f"interval of {self.interval_seconds} s: it must be positive")
        if self.interval_seconds is not None and self.interval_seconds > MAX_DURATION.total_seconds():
            raise InvalidSchedule(None, f"interval of {self.interval_seconds} s: at most {MAX_DAYS}d")
        if self.cron is not None:
            _check_cron(self.cron)

    def describe(self) -> str:
        """``cron 0 2 * * * (Europe/Berlin)`` or ``every 15m``."""
        if self.cron is not None:
            return f"cron {self.cron} ({self.tz})"
        assert self.interval_seconds is not None
        return f"every {format_interval(self.interval_seconds)}"

    def fire_times(self, after: datetime) -> Iterator[datetime]:
        """Every fire time strictly after ``after``, ascending, as UTC instants."""
        if self.cron is not None:
            return wall_clock_fire_times(CronWallTimes(self.cron), ZoneInfo(self.tz), after)
        assert self.interval_seconds is not None
        return interval_fire_times(self.interval_seconds, after)

    def between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """The fire times in ``(start, end]``."""
        return fire_times_between(self, start, end)

    def next_fire_time(self, after: datetime) -> datetime | None:
        """The first fire time after ``after`` (None if the expression never fires again)."""
        return next(self.fire_times(after), None)

    def local(self, moment: datetime) -> datetime:
        """``moment`` on the schedule's wall clock (aware, with its UTC offset)."""
        return moment.astimezone(ZoneInfo(self.tz))
