"""When a schedule fires, decided without I/O: fire times of intervals and of wall-clock
calendars (given the matching wall-clock times by an injected source), the catch-up
decision, and the run id of a fire time. The caller passes ``now``.

A calendar expression (a cron expression, in ``engine/schedules.py``) is evaluated on the
wall clock of the schedule's time zone: its source lists the matching local times as naive
wall-clock times, so it never does time-zone arithmetic itself, and zoneinfo turns each
into an instant by this rule for daylight saving time:

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
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from heapq import heappop, heappush
from itertools import takewhile
from typing import Protocol

from .errors import LedgerflowError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DST_MARGIN = timedelta(hours=3)
"""Longer than any daylight-saving shift: wall times this far apart cannot swap order."""
DEFAULT_GRACE = timedelta(seconds=60)
MAX_CATCHUP = 10_000
"""The most missed fire times ``backfill:N`` catches up."""


class InvalidSchedule(LedgerflowError):
    """A schedule's timing, time zone or catch-up policy cannot be used as written."""

    def __init__(self, name: str | None, reason: str) -> None:
        self.name = name
        where = f"schedule {name!r}: " if name else ""
        super().__init__(f"{where}{reason}")


class WallTimes(Protocol):
    """The wall-clock times a calendar expression matches, in no particular time zone."""

    @property
    def matches_every_hour(self) -> bool:
        """The expression matches some minute of every hour of the day."""
        ...

    def after(self, wall: datetime) -> Iterator[datetime]:
        """The matching naive wall-clock times strictly after ``wall``, ascending; it ends
        when the expression never matches again."""
        ...


class FireSchedule(Protocol):
    """Anything that lists its fire times (``engine.schedules.Timing`` does)."""

    def fire_times(self, after: datetime) -> Iterator[datetime]:
        """Every fire time strictly after ``after``, ascending, as UTC instants."""
        ...


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


def interval_fire_times(seconds: int, after: datetime) -> Iterator[datetime]:
    """Every whole multiple of ``seconds`` since the epoch strictly after ``after``."""
    step = timedelta(seconds=seconds)
    count = (after - EPOCH) // step + 1
    while True:
        yield EPOCH + count * step
        count += 1


def wall_clock_fire_times(walls: WallTimes, zone: tzinfo, after: datetime) -> Iterator[datetime]:
    """Every instant strictly after ``after`` at which the wall times of ``walls`` occur in
    ``zone``, by the daylight-saving rule above, ascending and without repeats."""
    return _distinct(_instants_in_order(walls, zone, after))


def _instants_in_order(walls: WallTimes, zone: tzinfo, after: datetime) -> Iterator[datetime]:
    # Wall times map to instants in order except across a DST shift, so start a margin
    # early and hold back each instant until no later wall time can map before it.
    start = after.astimezone(zone).replace(tzinfo=None) - DST_MARGIN
    every_hour = walls.matches_every_hour
    pending: list[datetime] = []
    for wall in walls.after(start):
        for instant in _instants(wall, zone, every_hour):
            if instant > after:
                heappush(pending, instant)
        settled = wall.replace(tzinfo=zone, fold=0).astimezone(UTC) - DST_MARGIN
        while pending and pending[0] <= settled:
            yield heappop(pending)
    while pending:  # the expression never matches again
        yield heappop(pending)


def _instants(wall: datetime, zone: tzinfo, every_hour: bool) -> list[datetime]:
    """The instants of a naive wall-clock time, by the daylight-saving rule above."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first < second and every_hour:  # a repeated hour: both occurrences
        return [first, second]
    return [first]  # a skipped time: fold=0 reads it with the offset before the gap


def _distinct(ascending: Iterator[datetime]) -> Iterator[datetime]:
    last: datetime | None = None
    for moment in ascending:
        if moment != last:
            yield moment
            last = moment


def fire_times_between(schedule: FireSchedule, start: datetime, end: datetime) -> Iterator[datetime]:
    """The schedule's fire times in ``(start, end]``."""
    return takewhile(lambda moment: moment <= end, schedule.fire_times(start))


def due_fire_times(
    schedule: FireSchedule, considered_until: datetime, now: datetime, catchup: Catchup,
    grace: timedelta = DEFAULT_GRACE,
) -> list[datetime]:  # fmt: skip
    """The fire times in ``(considered_until, now]`` to create runs for, oldest first.

    A fire time no older than ``grace`` is on time and always runs; older ones were
    missed, and the policy decides: ``skip`` none, ``latest`` the latest due fire time,
    ``backfill:N`` the N latest.
    """
    if now <= considered_until:
        return []
    on_time = list(fire_times_between(schedule, max(considered_until, now - grace), now))
    match catchup.policy:
        case CatchupPolicy.SKIP:
            return on_time
        case CatchupPolicy.LATEST | CatchupPolicy.BACKFILL:
            latest = _latest(schedule, considered_until, now, catchup.limit)
            return sorted(set(latest) | set(on_time))


def _latest(schedule: FireSchedule, after: datetime, now: datetime, count: int) -> list[datetime]:
    """The ``count`` latest fire times in ``(after, now]``, without listing a long gap."""
    span = timedelta(hours=1)
    while True:
        start = max(after, now - span)
        found = deque(fire_times_between(schedule, start, now), maxlen=count)
        if len(found) == count or start == after:
            return list(found)
        span *= 8


def fire_run_id(schedule: str, created_at: datetime, fire_time: datetime) -> str:
    """The run id of a schedule's fire time: the same in every process, so a retry after a
    crash finds the run it may have created; ``20260329-013000-1f3a9c0b`` (UTC)."""
    key = f"{schedule}\0{created_at.astimezone(UTC).isoformat()}\0{fire_time.astimezone(UTC).isoformat()}"
    return f"{fire_time.astimezone(UTC):%Y%m%d-%H%M%S}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
