"""Schedules: fire times of cron expressions across daylight saving time, intervals, the
catch-up decision with an injected clock (pure), and the ScheduleRunner and backfill on
SQLite and PostgreSQL (exactly one run per fire time, also after a crash)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from textwrap import dedent
from zoneinfo import ZoneInfo

import pytest

import ledgerflow as lf
from ledgerflow.engine.core.fire_times import (
    Catchup,
    CatchupPolicy,
    InvalidSchedule,
    due_fire_times,
    fire_run_id,
)
from ledgerflow.engine.errors import InvalidParameter
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.engine.schedule_runner import ScheduleRunner, fire_parameters, run_id_for
from ledgerflow.engine.schedules import Timing, parse_interval
from ledgerflow.engine.worker import Worker
from ledgerflow.storage import ScheduleNotFound, schema

BERLIN = ZoneInfo("Europe/Berlin")
SPRING_FORWARD = datetime(2026, 3, 29, tzinfo=BERLIN)  # 02:00 CET -> 03:00 CEST
FALL_BACK = datetime(2026, 10, 25, tzinfo=BERLIN)  # 03:00 CEST -> 02:00 CET


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _local_day(timing: Timing, day: datetime) -> list[datetime]:
    """The fire times during one local calendar day, on the Berlin wall clock."""
    start, end = day.astimezone(UTC), (day + timedelta(days=1)).astimezone(UTC)
    return [moment.astimezone(BERLIN) for moment in timing.between(start - timedelta(microseconds=1), end)
            if moment < end]  # fmt: skip


# --- parsing and validation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), (" 5 m ", 300)]
)
def test_intervals_parse(text: str, seconds: int) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "m", "0m", "1.5h", "-5m", "1w", "1h30m", "fifteen minutes"])
def test_bad_intervals_are_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(InvalidSchedule, match="positive whole number and a unit s, m, h or d"):
        parse_interval(text)


@pytest.mark.parametrize(
    ("text", "policy", "limit"),
    [("skip", CatchupPolicy.SKIP, 1), ("latest", CatchupPolicy.LATEST, 1),
     ("backfill:3", CatchupPolicy.BACKFILL, 3), ("BACKFILL:1", CatchupPolicy.BACKFILL, 1)],
)  # fmt: skip
def test_catchup_policies_parse(text: str, policy: CatchupPolicy, limit: int) -> None:
    parsed = Catchup.parse(text)
    assert (parsed.policy, parsed.limit) == (policy, limit)
    assert Catchup.parse(str(parsed)) == parsed


@pytest.mark.parametrize("text", ["all", "backfill", "backfill:0", "backfill:x", "latest:2", ""])
def test_bad_catchup_policies_are_refused(text: str) -> None:
    with pytest.raises(InvalidSchedule, match="skip, latest or backfill:N"):
        Catchup.parse(text)


@pytest.mark.parametrize(
    ("cron", "interval", "tz", "message"),
    [
        ("0 2 * * *", 60, "UTC", "exactly one of a cron expression or an interval"),
        (None, None, "UTC", "exactly one of a cron expression or an interval"),
        ("61 * * * *", None, "UTC", "bad cron expression '61 \\* \\* \\* \\*'"),
        ("every day", None, "UTC", "bad cron expression"),
        ("0 0 30 2 *", None, "UTC", "never fires"),
        ("0 2 * * *", None, "Europe/Atlantis", "unknown time zone 'Europe/Atlantis'"),
        ("0 2 * * *", None, "../etc/passwd", "unknown time zone"),
        (None, -5, "UTC", "must be positive"),
    ],
)
def test_bad_timings_are_refused_naming_the_problem(
    cron: str | None, interval: int | None, tz: str, message: str
) -> None:
    with pytest.raises(InvalidSchedule, match=message):
        Timing(cron, interval, tz)


# --- fire times and daylight saving time --------------------------------------------------


def test_a_daily_0230_job_fires_at_0330_cest_on_the_spring_forward_day() -> None:
    timing = Timing("30 2 * * *", None, "Europe/Berlin")
    before, day, after = (_local_day(timing, SPRING_FORWARD + timedelta(days=n)) for n in (-1, 0, 1))
    assert [t.isoformat() for t in before] == ["2026-03-28T02:30:00+01:00"]
    assert [t.isoformat() for t in day] == ["2026-03-29T03:30:00+02:00"]  # 02:30 does not exist
    assert [t.isoformat() for t in after] == ["2026-03-30T02:30:00+02:00"]


def test_a_daily_0230_job_fires_once_on_the_fall_back_day_at_the_first_0230() -> None:
    timing = Timing("30 2 * * *", None, "Europe/Berlin")
    assert [t.isoformat() for t in _local_day(timing, FALL_BACK)] == ["2026-10-25T02:30:00+02:00"]


def test_an_hourly_job_fires_every_real_hour_across_fall_back() -> None:
    timing = Timing("0 * * * *", None, "Europe/Berlin")
    day = _local_day(timing, FALL_BACK)
    assert len(day) == 25
    shown = [t.strftime("%H:%M%z") for t in day[1:5]]
    assert shown == ["01:00+0200", "02:00+0200", "02:00+0100", "03:00+0100"]  # 02:00 twice
    gaps = {b.astimezone(UTC) - a.astimezone(UTC) for a, b in pairwise(day)}
    assert gaps == {timedelta(hours=1)}


def test_an_hourly_job_fires_23_times_on_the_spring_forward_day_without_a_duplicate() -> None:
    timing = Timing("0 * * * *", None, "Europe/Berlin")
    day = _local_day(timing, SPRING_FORWARD)
    assert len(day) == 23
    assert [t.strftime("%H:%M%z") for t in day[1:3]] == ["01:00+0100", "03:00+0200"]
    assert len({t.astimezone(UTC) for t in day}) == 23


def test_fire_times_in_utc_and_next_fire_time() -> None:
    timing = Timing("0 2 * * *", None, "UTC")
    assert timing.next_fire_time(_utc(2026, 1, 1, 2)) == _utc(2026, 1, 2, 2)
    assert list(timing.between(_utc(2026, 1, 1), _utc(2026, 1, 3, 2))) == [_utc(2026, 1, 1, 2), _utc(2026, 1, 2, 2), _utc(2026, 1, 3, 2)]  # noqa: E501


def test_intervals_fire_at_multiples_since_the_epoch_whatever_the_time_zone() -> None:
    timing = Timing(None, 900, "Europe/Berlin")
    assert list(timing.between(_utc(2026, 3, 29, 0, 7), _utc(2026, 3, 29, 1))) == [
        _utc(2026, 3, 29, 0, 15), _utc(2026, 3, 29, 0, 30), _utc(2026, 3, 29, 0, 45), _utc(2026, 3, 29, 1)
    ]  # fmt: skip
    assert timing.describe() == "every 15m"


# --- catch-up, with an injected clock ---------------------------------------------------

HOURLY = Timing("0 * * * *", None, "UTC")
DOWN_SINCE = _utc(2026, 5, 1, 0, 30)  # considered until then; nothing ran until NOW
NOW = _utc(2026, 5, 1, 6, 0, 20)  # 06:00 is on time (20 s late); 01:00 to 05:00 were missed


@pytest.mark.parametrize(
    ("catchup", "expected_hours"),
    [("skip", [6]), ("latest", [6]), ("backfill:3", [4, 5, 6]), ("backfill:100", [1, 2, 3, 4, 5, 6])],
)
def test_catchup_policies_decide_which_missed_fire_times_run(catchup: str, expected_hours: list[int]) -> None:
    due = due_fire_times(HOURLY, DOWN_SINCE, NOW, Catchup.parse(catchup), grace=timedelta(seconds=60))
    assert due == [_utc(2026, 5, 1, hour) for hour in expected_hours]


@pytest.mark.parametrize(
    ("catchup", "expected_hours"), [("skip", []), ("latest", [5]), ("backfill:2", [4, 5])]
)
def test_catchup_when_the_latest_fire_time_is_late_too(catchup: str, expected_hours: list[int]) -> None:
    now = _utc(2026, 5, 1, 5, 30)  # 05:00 is half an hour late: missed
    due = due_fire_times(HOURLY, DOWN_SINCE, now, Catchup.parse(catchup), grace=timedelta(seconds=60))
    assert due == [_utc(2026, 5, 1, hour) for hour in expected_hours]


def test_catchup_after_a_long_outage_does_not_list_every_missed_fire_time() -> None:
    minutely = Timing("* * * * *", None, "UTC")
    due = due_fire_times(minutely, _utc(2016, 1, 1), _utc(2026, 1, 1), Catchup.parse("backfill:2"))
    assert due == [_utc(2025, 12, 31, 23, 59), _utc(2026, 1, 1)]


def test_nothing_is_due_before_the_first_fire_time() -> None:
    assert due_fire_times(HOURLY, NOW, NOW, Catchup.parse("latest")) == []
    after_six = _utc(2026, 5, 1, 6, 1)
    assert due_fire_times(HOURLY, after_six, _utc(2026, 5, 1, 6, 59), Catchup.parse("latest")) == []


def test_fire_run_ids_are_deterministic_and_distinct() -> None:
    created, fire = _utc(2026, 1, 1), _utc(2026, 3, 29, 1, 30)
    run_id = fire_run_id("nightly", created, fire)
    assert run_id == fire_run_id("nightly", created, fire.astimezone(BERLIN))
    assert run_id.startswith("20260329-013000-")
    assert run_id != fire_run_id("hourly", created, fire)
    assert run_id != fire_run_id("nightly", created + timedelta(seconds=1), fire)


# --- the runner, backfill and the worker, on SQLite and PostgreSQL ---------------------------

FLOWS = dedent(
    '''
    import ledgerflow as lf


    @lf.task
    def stamp(fire_time: str, region: str) -> str:
        return f"{region}@{fire_time}"


    @lf.flow
    def nightly(fire_time: str, region: str = "eu"):
        return stamp(fire_time, region)


    @lf.flow
    def plain(n: int = 1):
        return stamp(str(n), "x")
    '''
)


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    with lf.Engine(database_url, home=tmp_path) as opened:
        yield opened


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    path = tmp_path / "scheduled_flows.py"
    path.write_text(FLOWS)
    return path


def _add(engine: lf.Engine, flows: Path, created: datetime, **options: object) -> None:
    """Add schedule "nightly" as if it had been added at ``created``."""
    record = engine.schedule("nightly", load_flow(f"{flows}:nightly"), **options)  # type: ignore[arg-type]
    table = schema.schedules
    with engine.storage.database.begin() as connection:
        backdated = table.update().values(created_at=created, considered_until=created)
        connection.execute(backdated.where(table.c.name == record.name))


def _runs(engine: lf.Engine) -> dict[str, dict[str, object]]:
    return {summary.run_id: engine.get_run(summary.run_id).parameters for summary in engine.runs()}


def test_the_runner_creates_due_runs_once_with_the_fire_time(engine: lf.Engine, flows: Path) -> None:
    _add(engine, flows, _utc(2026, 3, 28, 12), cron="30 2 * * *", tz="Europe/Berlin",
         parameters={"region": "de"}, catchup="backfill:5")  # fmt: skip
    runner = ScheduleRunner(engine)
    created = runner.run_once(now=_utc(2026, 3, 30, 12))
    assert len(created) == 2
    assert runner.run_once(now=_utc(2026, 3, 30, 12)) == []
    assert runner.run_once(now=_utc(2026, 3, 30, 13)) == []
    params = sorted(_runs(engine).values(), key=lambda p: str(p["fire_time"]))
    assert params == [
        {"fire_time": "2026-03-29T03:30:00+02:00", "region": "de"},
        {"fire_time": "2026-03-30T02:30:00+02:00", "region": "de"},
    ]
    assert all(summary.state == "SCHEDULED" for summary in engine.runs())


def test_a_claim_whose_run_was_never_created_is_completed_by_the_next_poll(
    engine: lf.Engine, flows: Path
) -> None:
    _add(engine, flows, _utc(2026, 1, 1), cron="0 * * * *")
    record = engine.storage.schedules.get("nightly")
    # A process claimed two fire times and died: one before creating its run, one after.
    fire_times = [_utc(2026, 1, 1, 1), _utc(2026, 1, 1, 2)]
    first, second = engine.storage.schedules.claim("nightly", fire_times, run_id_for)
    parameters = fire_parameters(record, second.fire_time)
    engine.submit_flow(load_flow(f"{flows}:nightly"), parameters, run_id=second.run_id)
    runner = ScheduleRunner(engine)
    assert runner.run_once(now=_utc(2026, 1, 1, 0, 30)) == [first.run_id]  # the second existed
    assert set(_runs(engine)) == {first.run_id, second.run_id}
    assert engine.storage.schedules.fires("nightly", is_pending=True) == []
    assert runner.run_once(now=_utc(2026, 1, 1, 0, 30)) == []


def test_a_paused_schedule_creates_nothing_and_resumes_without_catching_up(
    engine: lf.Engine, flows: Path
) -> None:
    _add(engine, flows, _utc(2026, 1, 1), interval="15m", catchup="backfill:10")
    engine.pause_schedule("nightly")
    assert ScheduleRunner(engine).run_once(now=_utc(2026, 1, 1, 2)) == []
    engine.resume_schedule("nightly")  # considered until the real now: 2026-01-01 is long gone
    assert ScheduleRunner(engine).run_once(now=_utc(2026, 1, 1, 3)) == []
    assert engine.schedules()[0].is_paused is False


def test_a_broken_flow_reference_is_kept_as_the_error_and_retried(engine: lf.Engine, flows: Path) -> None:
    _add(engine, flows, _utc(2026, 1, 1), cron="0 * * * *")
    renamed = flows.with_name("moved.py")
    flows.rename(renamed)
    runner = ScheduleRunner(engine)
    assert runner.run_once(now=_utc(2026, 1, 1, 1, 0, 10)) == []
    assert "no such file" in str(engine.schedules()[0].last_error)
    renamed.rename(flows)
    assert len(runner.run_once(now=_utc(2026, 1, 1, 1, 0, 20))) == 1
    assert engine.schedules()[0].last_error is None


def test_backfill_creates_the_runs_of_a_range_and_is_idempotent(engine: lf.Engine, flows: Path) -> None:
    _add(engine, flows, _utc(2026, 1, 1), cron="30 2 * * *", tz="Europe/Berlin")
    first = engine.backfill("nightly", datetime(2026, 3, 27), datetime(2026, 3, 30, 2, 30))
    assert [t.astimezone(BERLIN).isoformat() for t in first.fire_times] == [
        "2026-03-27T02:30:00+01:00", "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00",
    ]  # fmt: skip
    assert (len(first.created), first.existing) == (4, 0)
    again = engine.backfill("nightly", datetime(2026, 3, 26), datetime(2026, 3, 31, tzinfo=BERLIN))
    assert (len(again.created), again.existing) == (1, 4)  # only 03-26 was new
    fire_times = sorted(str(params["fire_time"]) for params in _runs(engine).values())
    assert fire_times[0] == "2026-03-26T02:30:00+01:00" and len(fire_times) == 5


def test_backfill_refuses_bad_ranges_and_unknown_schedules(engine: lf.Engine, flows: Path) -> None:
    _add(engine, flows, _utc(2026, 1, 1), cron="* * * * *")
    with pytest.raises(InvalidSchedule, match="starts after it ends"):
        engine.backfill("nightly", _utc(2026, 1, 2), _utc(2026, 1, 1))
    with pytest.raises(InvalidSchedule, match="more than 10 fire times"):
        engine.backfill("nightly", _utc(2026, 1, 1), _utc(2026, 1, 1, 1), max_runs=10)
    with pytest.raises(ScheduleNotFound, match="'weekly'"):
        engine.backfill("weekly", _utc(2026, 1, 1), _utc(2026, 1, 2))
    assert engine.runs() == []


def test_schedule_definitions_are_checked_against_the_flow(engine: lf.Engine, flows: Path) -> None:
    nightly, plain = load_flow(f"{flows}:nightly"), load_flow(f"{flows}:plain")
    with pytest.raises(InvalidSchedule, match="set by the schedule to the fire time"):
        engine.schedule("a", nightly, cron="0 2 * * *", parameters={"fire_time": "x"})
    with pytest.raises(InvalidSchedule, match="no parameter 'when'"):
        engine.schedule("a", plain, cron="0 2 * * *", fire_time_param="when")
    with pytest.raises(InvalidParameter, match="unknown parameter"):
        engine.schedule("a", plain, cron="0 2 * * *", parameters={"nope": 1})
    with pytest.raises(InvalidSchedule, match="schedule 'a': unknown time zone"):
        engine.schedule("a", plain, cron="0 2 * * *", tz="Mars/Olympus")
    record = engine.schedule("a", plain, interval=90, parameters={"n": 3})
    assert (record.fire_time_param, record.parameters, record.interval_seconds) == (None, {"n": 3}, 90)
    assert fire_parameters(record, _utc(2026, 1, 1)) == {"n": 3}


def test_a_worker_creates_and_drives_due_scheduled_runs(
    database_url: str, tmp_path: Path, flows: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        _add(engine, flows, datetime.now(UTC) - timedelta(hours=2), cron="0 * * * *", catchup="latest")
    with Worker(database_url, home=tmp_path) as worker:
        driven = worker.run_once()  # claims the latest missed hour, creates its run, drives it
        run = worker.engine.get_run(driven[0])
    assert run.state == "SUCCEEDED"
    assert str(run.result()).startswith("eu@")
    with Worker(database_url, home=tmp_path, schedules=False) as idle:
        assert idle.schedule_runner is None
