"""When a schedule fires: cron expressions on a time zone's wall clock, fixed intervals,
and the catch-up decision. Pure functions: the caller passes ``now``.

Cron expressions are evaluated on the wall clock of the schedule's time zone: croniter
lists the matching local times (as naive wall-clock times, so it never does time-zone
arithmetic itself) and zoneinfo turns each into an instant, by this rule for daylight
saving time:

- A local time that does not exist (the hour skipped when clocks spring forward) fires
  once, shifted forward by the length of the gap: a daily 02:30 job fires at 03:30 CEST
  on the day Europe/Berlin springs forward. Fire times that land on the same instant are
  one fire (an hourly job's 02:00 becomes 03:00, which it fires anyway: 23 runs that day).
- A local time that occurs twice (the hour repeated when clocks fall back) fires at its
  first occurrence only, unless the expression matches every hour of the day: then it
  fires at both, so an hourly job runs every real hour (25 runs on the fall-back day)
  while a daily 02:30 job runs once.

Interval schedules fire at whole multiples of the interval since the Unix epoch, in UTC:
"15m" at :00, :15, :30 and :45 of every hour, "1d" at midnight UTC. The time zone does not
move them; use a cron expression for calendar times.
"""

import hashlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from heapq import heappop, heappush
from itertools import takewhile
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from ..error_root import LedgerflowError
from .moments import MAX_DAYS, MAX_DURATION, OutOfRange, is_duration, parse_duration

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DST_MARGIN = timedelta(hours=3)
"""Longer than any daylight-saving shift: wall times this far apart cannot swap order."""
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_GRACE = timedelta(seconds=60)
MAX_CATCHUP = 10_000
"""The most missed fire times ``backfill:N`` catches up."""


class InvalidSchedule(LedgerflowError):
    """A schedule's timing, time zone or catch-up policy cannot be used as written."""

    def __init__(self, name: str | None, reason: str) -> None:
        self.name = name
        where = f"schedule {name!r}: " if name else ""
        super().__init__(f"{where}{reason}")


class CatchupPolicy(StrEnum):
    """What happens to fire times missed while no scheduler ran."""

    SKIP = "skip"  # none of them: only fire times within the grace period run
    LATEST = "latest"  # the latest one
    BACKFILL = "backfill"  # up to N of the latest ones, oldest first


@dataclass(frozen=True, slots=True)
class Catchup:
    """A catch-up policy; ``limit`` is N of ``backfill:N`` (1 for the others)."""

    policy: CatchupPolicy
    limit: int = 1

    @classmethod
    def parse(cls, text: str) -> "Catchup":
        """``skip``, ``latest`` or ``backfill:N`` (1 <= N <= MAX_CATCHUP); raises ``InvalidSchedule``."""
        word, sep, count = text.strip().lower().partition(":")
        is_small_number = count.isascii() and count.isdigit() and len(count) <= len(str(MAX_CATCHUP))
        limit = int(count) if is_small_number else 0
        if word == CatchupPolicy.BACKFILL and sep and 1 <= limit <= MAX_CATCHUP:
            return cls(CatchupPolicy.BACKFILL, limit)
        if word in (CatchupPolicy.SKIP, CatchupPolicy.LATEST) and not sep:
            return cls(CatchupPolicy(word))
        raise InvalidSchedule(
            None, f"catch-up policy {text!r}: expected skip, latest or backfill:N (1 <= N <= {MAX_CATCHUP})"
        )

    def __str__(self) -> str:
        if self.policy is CatchupPolicy.BACKFILL:
            return f"backfill:{self.limit}"
        return self.policy.value


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
            if not croniter.is_valid(self.cron):
                raise InvalidSchedule(
                    None, f"bad cron expression {self.cron!r}: expected 5 fields "
                    "(minute hour day-of-month month day-of-week), e.g. '0 2 * * *'",
                )
            try:
                croniter(self.cron, datetime(2000, 1, 1)).get_next(datetime)
            except CroniterError:
                raise InvalidSchedule(None, f"cron expression {self.cron!r} never fires") from None

    def describe(self) -> str:
        """``cron 0 2 * * * (Europe/Berlin)`` or ``every 15m``."""
        if self.cron is not None:
            return f"cron {self.cron} ({self.tz})"
        assert self.interval_seconds is not None
        return f"every {format_interval(self.interval_seconds)}"

    def fire_times(self, after: datetime) -> Iterator[datetime]:
        """Every fire time strictly after ``after``, ascending, as UTC instants."""
        if self.cron is not None:
            return _cron_fire_times(self.cron, ZoneInfo(self.tz), after)
        assert self.interval_seconds is not None
        return _interval_fire_times(self.interval_seconds, after)

    def between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """The fire times in ``(start, end]``."""
        return takewhile(lambda moment: moment <= end, self.fire_times(start))

    def next_fire_time(self, after: datetime) -> datetime | None:
        """The first fire time after ``after`` (None if the expression never fires again)."""
        try:
            return next(self.fire_times(after), None)
        except CroniterError:
            return None

    def local(self, moment: datetime) -> datetime:
        """``moment`` on the schedule's wall clock (aware, with its UTC offset)."""
        return moment.astimezone(ZoneInfo(self.tz))


def _every_hour(expression: croniter) -> bool:
    hours = set(expression.expanded[1])
    return hours == {"*"} or len(hours) == 24


def _instants(wall: datetime, zone: ZoneInfo, every_hour: bool) -> list[datetime]:
    """The instants of a naive wall-clock time, by the daylight-saving rule above."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first < second and every_hour:  # a repeated hour: both occurrences
        return [first, second]
    return [first]  # a skipped time: fold=0 reads it with the offset before the gap


def _cron_fire_times(cron: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    # Wall times map to instants in order except across a DST shift, so start a margin
    # early and hold back each instant until no later wall time can map before it.
    start = after.astimezone(zone).replace(tzinfo=None) - DST_MARGIN
    walls = croniter(cron, start)
    every_hour = _every_hour(walls)
    pending: list[datetime] = []
    last: datetime | None = None
    while True:
        wall = walls.get_next(datetime)
        for instant in _instants(wall, zone, every_hour):
            if instant > after:
                heappush(pending, instant)
        settled = wall.replace(tzinfo=zone, fold=0).astimezone(UTC) - DST_MARGIN
        while pending and pending[0] <= settled:
            moment = heappop(pending)
            if moment != last:
                yield moment
                last = moment


def _interval_fire_times(seconds: int, after: datetime) -> Iterator[datetime]:
    step = timedelta(seconds=seconds)
    count = (after - EPOCH) // step + 1
    while True:
        yield EPOCH + count * step
        count += 1


def due_fire_times(
    timing: Timing, considered_until: datetime, now: datetime, catchup: Catchup,
    grace: timedelta = DEFAULT_GRACE,
) -> list[datetime]:  # fmt: skip
    """The fire times in ``(considered_until, now]`` to create runs for, oldest first.

    A fire time no older than ``grace`` is on time and always runs; older ones were
    missed, and the policy decides: ``skip`` none, ``latest`` the latest due fire time,
    ``backfill:N`` the N latest.
    """
    if now <= considered_until:
        return []
    on_time = list(timing.between(max(considered_until, now - grace), now))
    match catchup.policy:
        case CatchupPolicy.SKIP:
            return on_time
        case CatchupPolicy.LATEST | CatchupPolicy.BACKFILL:
            latest = _latest(timing, considered_until, now, catchup.limit)
            return sorted(set(latest) | set(on_time))


def _latest(timing: Timing, after: datetime, now: datetime, count: int) -> list[datetime]:
    """The ``count`` latest fire times in ``(after, now]``, without listing a long gap."""
    span = timedelta(hours=1)
    while True:
        start = max(after, now - span)
        found = deque(timing.between(start, now), maxlen=count)
        if len(found) == count or start == after:
            return list(found)
        span *= 8


def fire_run_id(schedule: str, created_at: datetime, fire_time: datetime) -> str:
    """The run id of a schedule's fire time: the same in every process, so a retry after a
    crash finds the run it may have created; ``20260329-013000-1f3a9c0b`` (UTC)."""
    key = f"{schedule}\0{created_at.astimezone(UTC).isoformat()}\0{fire_time.astimezone(UTC).isoformat()}"
    return f"{fire_time.astimezone(UTC):%Y%m%d-%H%M%S}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
