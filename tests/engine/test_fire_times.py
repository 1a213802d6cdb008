"""The core's fire-time decisions without croniter: a fake source of wall-clock times drives
the walk across daylight saving time, and the catch-up decision runs on it with an injected
``now``. Properties check the walk against a plain reference (every matching wall time
mapped to its real occurrences) near each time zone's transitions."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import islice, pairwise, takewhile
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerflow.engine.core.fire_times import (
    Catchup,
    CatchupPolicy,
    WallTimes,
    due_fire_times,
    fire_times_between,
    interval_fire_times,
    wall_clock_fire_times,
)

BERLIN = ZoneInfo("Europe/Berlin")
ZONES = [ZoneInfo(name) for name in ("UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                                     "America/Santiago", "Asia/Kolkata")]  # fmt: skip
ALL_HOURS = frozenset(range(24))


@dataclass(frozen=True)
class Clockwork:
    """A fake calendar: the given minutes of the given hours, every day."""

    hours: frozenset[int]
    minutes: frozenset[int]

    @property
    def matches_every_hour(self) -> bool:
        return self.hours == ALL_HOURS

    def after(self, wall: datetime) -> Iterator[datetime]:
        hour = wall.replace(minute=0, second=0, microsecond=0)
        while True:
            if hour.hour in self.hours:
                yield from (
                    at for minute in sorted(self.minutes) if (at := hour.replace(minute=minute)) > wall
                )
            hour += timedelta(hours=1)


@dataclass(frozen=True)
class Listed:
    """A fake calendar that matches only the listed wall times, then never again."""

    walls: tuple[datetime, ...]
    matches_every_hour: bool

    def after(self, wall: datetime) -> Iterator[datetime]:
        return (listed for listed in self.walls if listed > wall)


@dataclass(frozen=True)
class OnWallClock:
    """A schedule firing at a fake calendar's times in ``zone``."""

    walls: WallTimes
    zone: tzinfo

    def fire_times(self, after: datetime) -> Iterator[datetime]:
        return wall_clock_fire_times(self.walls, self.zone, after)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _berlin_day(walls: WallTimes, year: int, month: int, day: int) -> list[str]:
    """The fire times during one Berlin calendar day, on the Berlin wall clock."""
    start = datetime(year, month, day, tzinfo=BERLIN)
    end = (start + timedelta(days=1)).astimezone(UTC)
    moments = wall_clock_fire_times(walls, BERLIN, start.astimezone(UTC) - timedelta(microseconds=1))
    return [moment.astimezone(BERLIN).strftime("%H:%M%z") for moment in takewhile(lambda m: m < end, moments)]


# --- the daylight-saving rule ------------------------------------------------------------

DAILY_0230 = Clockwork(frozenset({2}), frozenset({30}))
HOURLY = Clockwork(ALL_HOURS, frozenset({0}))


def test_a_skipped_wall_time_fires_once_shifted_by_the_gap() -> None:
    assert _berlin_day(DAILY_0230, 2026, 3, 28) == ["02:30+0100"]
    assert _berlin_day(DAILY_0230, 2026, 3, 29) == ["03:30+0200"]  # 02:30 does not exist
    assert _berlin_day(DAILY_0230, 2026, 3, 30) == ["02:30+0200"]


def test_a_repeated_wall_time_fires_at_its_first_occurrence_only() -> None:
    assert _berlin_day(DAILY_0230, 2026, 10, 25) == ["02:30+0200"]


def test_an_expression_matching_every_hour_fires_at_both_occurrences() -> None:
    day = _berlin_day(HOURLY, 2026, 10, 25)
    assert len(day) == 25
    assert day[1:5] == ["01:00+0200", "02:00+0200", "02:00+0100", "03:00+0100"]


def test_a_skipped_hour_merges_into_the_next_without_a_duplicate() -> None:
    day = _berlin_day(HOURLY, 2026, 3, 29)
    assert len(day) == len(set(day)) == 23
    assert day[1:3] == ["01:00+0100", "03:00+0200"]


def test_a_calendar_that_stops_matching_ends_the_walk_with_every_pending_fire_time() -> None:
    # The last match is a repeated time: both its instants were held back when the source ended.
    walls = Listed((datetime(2026, 10, 25, 1, 0), datetime(2026, 10, 25, 2, 0)), matches_every_hour=True)
    moments = list(wall_clock_fire_times(walls, BERLIN, _utc(2026, 10, 24)))
    assert moments == [_utc(2026, 10, 24, 23), _utc(2026, 10, 25, 0), _utc(2026, 10, 25, 1)]
    assert list(wall_clock_fire_times(walls, BERLIN, _utc(2026, 10, 25, 1))) == []


def test_intervals_fire_at_multiples_since_the_epoch() -> None:
    moments = list(islice(interval_fire_times(900, _utc(2026, 3, 29, 0, 7)), 4))
    assert moments == [
        _utc(2026, 3, 29, 0, 15),
        _utc(2026, 3, 29, 0, 30),
        _utc(2026, 3, 29, 0, 45),
        _utc(2026, 3, 29, 1),
    ]
    assert next(interval_fire_times(900, _utc(2026, 3, 29, 1))) == _utc(2026, 3, 29, 1, 15)


# --- catch-up, with an injected clock ------------------------------------------------------

UTC_HOURLY = OnWallClock(HOURLY, UTC)
DOWN_SINCE = _utc(2026, 5, 1, 0, 30)
NOW = _utc(2026, 5, 1, 6, 0, 20)  # 06:00 is on time (20 s late); 01:00 to 05:00 were missed


@pytest.mark.parametrize(
    ("catchup", "expected_hours"),
    [("skip", [6]), ("latest", [6]), ("backfill:3", [4, 5, 6]), ("backfill:100", [1, 2, 3, 4, 5, 6])],
)
def test_the_policy_decides_which_missed_fire_times_run(catchup: str, expected_hours: list[int]) -> None:
    due = due_fire_times(UTC_HOURLY, DOWN_SINCE, NOW, Catchup.parse(catchup), grace=timedelta(seconds=60))
    assert due == [_utc(2026, 5, 1, hour) for hour in expected_hours]


def test_catching_up_across_fall_back_counts_the_repeated_hour() -> None:
    berlin_hourly = OnWallClock(HOURLY, BERLIN)
    now = _utc(2026, 10, 25, 2, 30)  # 03:30 CET; missed: 02:00 CEST, 02:00 CET, 03:00 CET
    due = due_fire_times(berlin_hourly, _utc(2026, 10, 24, 23, 30), now, Catchup.parse("backfill:3"))
    assert due == [_utc(2026, 10, 25, 0), _utc(2026, 10, 25, 1), _utc(2026, 10, 25, 2)]


def test_a_long_outage_is_caught_up_without_listing_it() -> None:
    minutely = OnWallClock(Clockwork(ALL_HOURS, frozenset(range(60))), UTC)
    due = due_fire_times(minutely, _utc(2016, 1, 1), _utc(2026, 1, 1), Catchup.parse("backfill:2"))
    assert due == [_utc(2025, 12, 31, 23, 59), _utc(2026, 1, 1)]


def test_nothing_is_due_until_now_passes_the_considered_time() -> None:
    assert due_fire_times(UTC_HOURLY, NOW, NOW, Catchup.parse("latest")) == []
    assert due_fire_times(UTC_HOURLY, NOW, NOW - timedelta(hours=2), Catchup.parse("latest")) == []


# --- properties near every time zone's transitions ----------------------------------------


def _transitions(zone: tzinfo, year: int) -> list[datetime]:
    """The hours of ``year`` (UTC) at whose end ``zone`` changes its offset."""
    hours = (datetime(year, 1, 1, tzinfo=UTC) + timedelta(hours=n) for n in range(366 * 24))
    return [hour for hour, later in pairwise(hours)
            if hour.astimezone(zone).utcoffset() != later.astimezone(zone).utcoffset()]  # fmt: skip


NEAR_TRANSITIONS = [(zone, moment) for zone in ZONES for moment in _transitions(zone, 2026)]


def _near(transition: tuple[tzinfo, datetime]) -> st.SearchStrategy[tuple[tzinfo, datetime]]:
    zone, moment = transition
    return st.integers(-48 * 60, 48 * 60).map(lambda minutes: (zone, moment + timedelta(minutes=minutes)))


any_moment = st.datetimes(datetime(2000, 1, 1), datetime(2036, 12, 31), timezones=st.just(UTC))
zones_and_moments = st.one_of(
    st.sampled_from(NEAR_TRANSITIONS).flatmap(_near), st.tuples(st.sampled_from(ZONES), any_moment)
)
calendars = st.builds(
    Clockwork,
    st.one_of(st.just(ALL_HOURS), st.frozensets(st.integers(0, 23), min_size=1)),
    st.frozensets(st.integers(0, 59), min_size=1, max_size=4),
)


def _occurrences(wall: datetime, zone: tzinfo) -> list[datetime]:
    """The instants at which ``zone``'s clocks show ``wall``, earliest first (none if skipped)."""
    candidates = {wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)}
    return sorted(moment for moment in candidates if moment.astimezone(zone).replace(tzinfo=None) == wall)


def _reference(walls: WallTimes, zone: tzinfo, after: datetime, until: datetime) -> list[datetime]:
    """The walk's fire times in ``(after, until]``, from every matching wall time near the range."""
    first = after.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
    last = until.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
    found: set[datetime] = set()
    for wall in takewhile(lambda wall: wall <= last, walls.after(first)):
        occurrences = _occurrences(wall, zone)
        if not occurrences:  # skipped: the wall time read with the offset before the gap
            found.add(wall.replace(tzinfo=zone, fold=0).astimezone(UTC))
        else:
            found.update(occurrences if walls.matches_every_hour else occurrences[:1])
    return sorted(moment for moment in found if after < moment <= until)


@settings(max_examples=300, deadline=None)
@given(zones_and_moments, calendars)
def test_the_walk_fires_every_matching_time_once_in_order(
    near: tuple[tzinfo, datetime], walls: Clockwork
) -> None:
    zone, after = near
    until = after + timedelta(days=2)
    moments = list(takewhile(lambda moment: moment <= until, wall_clock_fire_times(walls, zone, after)))
    assert all(earlier < later for earlier, later in pairwise(moments))
    assert all(moment > after and moment.utcoffset() == timedelta(0) for moment in moments)
    assert moments == _reference(walls, zone, after, until)


@settings(max_examples=200, deadline=None)
@given(
    zones_and_moments, calendars, st.integers(0, 3 * 24 * 60),
    st.sampled_from(["skip", "latest", "backfill:2", "backfill:30"]), st.integers(0, 3 * 3600),
)  # fmt: skip
def test_due_fire_times_are_the_on_time_ones_and_the_latest_missed(
    near: tuple[tzinfo, datetime], walls: Clockwork, minutes: int, policy: str, grace_seconds: int
) -> None:
    (zone, considered_until), catchup = near, Catchup.parse(policy)
    now, grace = considered_until + timedelta(minutes=minutes), timedelta(seconds=grace_seconds)
    schedule = OnWallClock(walls, zone)
    due = due_fire_times(schedule, considered_until, now, catchup, grace)
    every = list(fire_times_between(schedule, considered_until, now))
    on_time = [moment for moment in every if moment > now - grace]
    latest = every[-catchup.limit :] if catchup.policy is not CatchupPolicy.SKIP else []
    assert due == sorted(set(on_time) | set(latest))
    assert all(earlier < later for earlier, later in pairwise(due))
    assert all(considered_until < moment <= now for moment in due)
