"""``ledgerflow schedule add|list|pause|resume|remove``, ``scheduler`` and ``backfill``,
on SQLite and PostgreSQL: what they print, and bad input as exit 2."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent

import orjson
import pytest

import ledgerflow as lf
from ledgerflow.storage import schema

from .conftest import Invoke

FLOWS = dedent(
    '''
    import ledgerflow as lf


    @lf.task
    def stamp(day: str, region: str) -> str:
        return f"{region}@{day}"


    @lf.flow
    def daily(day: str, region: str = "eu"):
        return stamp(day, region)
    '''
)


@pytest.fixture
def flows(tmp_path: Path) -> str:
    path = tmp_path / "daily_flows.py"
    path.write_text(FLOWS)
    return f"{path}:daily"


def _add(cli: Invoke, flows: str, *options: str) -> None:
    added = cli("schedule", "add", "daily", flows, *options)
    assert added.exit_code == 0, added.output


def test_add_list_pause_resume_remove(cli: Invoke, flows: str) -> None:
    _add(cli, flows, "--cron", "0 2 * * *", "--tz", "Europe/Berlin", "-p", "region=de",
         "--fire-time-param", "day", "--catchup", "backfill:2")  # fmt: skip
    listed = cli("schedule", "list")
    assert listed.exit_code == 0
    assert "daily" in listed.output and "cron 0 2 * * * (Europe/Berlin)" in listed.output
    assert "backfill:2" in listed.output and "active" in listed.output
    assert cli("schedule", "pause", "daily").output.strip() == "schedule 'daily' paused"
    as_json = orjson.loads(cli("schedule", "list", "--json").output)
    assert as_json["paused"] is True and as_json["parameters"] == {"region": "de"}
    assert (as_json["fire_time_param"], as_json["next_fire_time"]) == ("day", None)
    assert cli("schedule", "resume", "daily").exit_code == 0
    resumed = orjson.loads(cli("schedule", "list", "--json").output)
    assert resumed["paused"] is False
    assert resumed["next_fire_time"].endswith(("T01:00:00+00:00", "T00:00:00+00:00"))  # 02:00 in Berlin
    assert cli("schedule", "remove", "daily").exit_code == 0
    assert "no schedules" in cli("schedule", "list").output


def test_an_interval_schedule_is_listed_as_such(cli: Invoke, flows: str) -> None:
    _add(cli, flows, "--interval", "15m", "-p", "day=today")
    assert "every 15m" in cli("schedule", "list").output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--cron", "0 2 * * *", "--tz", "Mars/Olympus", "--fire-time-param", "day"],
         "unknown time zone 'Mars/Olympus'"),
        (["--cron", "0 25 * * *", "--fire-time-param", "day"], "bad cron expression '0 25 * * *'"),
        (["--cron", "0 2 * * *", "--interval", "1h", "--fire-time-param", "day"],
         "exactly one of a cron expression"),
        (["--fire-time-param", "day"], "exactly one of a cron expression"),
        (["--interval", "often", "--fire-time-param", "day"], "interval 'often'"),
        (["--interval", "1h", "--catchup", "all", "--fire-time-param", "day"], "catch-up policy 'all'"),
        (["--interval", "1h", "--fire-time-param", "when"], "has no parameter 'when'"),
        (["--interval", "1h"], "missing a required argument: 'day'"),
        (["--interval", "1h", "-p", "nope=1", "--fire-time-param", "day"], "parameter 'nope'"),
    ],
)
def test_bad_schedules_exit_2_naming_the_problem(
    cli: Invoke, flows: str, options: list[str], message: str
) -> None:
    result = cli("schedule", "add", "daily", flows, *options)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "no schedules" in cli("schedule", "list").output


def test_a_taken_name_and_an_unknown_name_exit_2(cli: Invoke, flows: str) -> None:
    _add(cli, flows, "--interval", "1h", "--fire-time-param", "day")
    taken = cli("schedule", "add", "daily", flows, "--interval", "2h", "--fire-time-param", "day")
    assert taken.exit_code == 2 and "exists already" in taken.output
    backfill = ["backfill", "weekly", "--from", "2026-01-01", "--to", "2026-01-02"]
    for command in (["schedule", "pause", "weekly"], ["schedule", "resume", "weekly"],
                    ["schedule", "remove", "weekly"], backfill):  # fmt: skip
        result = cli(*command)
        assert result.exit_code == 2, result.output
        assert "no schedule named 'weekly'" in result.output


def test_backfill_creates_runs_with_the_fire_time_and_skips_them_when_repeated(
    cli: Invoke, flows: str, database_url: str, tmp_path: Path
) -> None:
    _add(cli, flows, "--cron", "30 2 * * *", "--tz", "Europe/Berlin", "--fire-time-param", "day")
    first = cli("backfill", "daily", "--from", "2026-03-28", "--to", "2026-03-29T23:00")
    assert first.exit_code == 0, first.output
    run_ids = first.stdout.split()
    assert len(run_ids) == 2 and "2 run(s) created, 0 existed already" in first.stderr
    again = cli("backfill", "daily", "--from", "2026-03-28", "--to", "2026-03-29T23:00")
    assert again.stdout.split() == [] and "0 run(s) created, 2 existed already" in again.stderr
    with lf.Engine(database_url, home=tmp_path) as engine:
        days = sorted(str(engine.get_run(run_id).parameters["day"]) for run_id in run_ids)
        assert {summary.state for summary in engine.runs()} == {"SCHEDULED"}
    assert days == ["2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00"]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [("yesterday", "2026-01-02", "--from 'yesterday': expected an ISO-8601"),
     ("2026-01-02", "2026-01-01", "starts after it ends"),
     ("2026-01-01", "2026-03-01", "more than 10 fire times")],
)  # fmt: skip
def test_bad_backfill_ranges_exit_2(cli: Invoke, flows: str, start: str, end: str, message: str) -> None:
    _add(cli, flows, "--cron", "0 0 * * *", "--fire-time-param", "day")
    result = cli("backfill", "daily", "--from", start, "--to", end, "--max-runs", "10")
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_scheduler_once_creates_the_due_run(
    cli: Invoke, flows: str, database_url: str, tmp_path: Path
) -> None:
    _add(cli, flows, "--interval", "1h", "--fire-time-param", "day", "--catchup", "latest")
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1, minutes=1)  # an hourly fire time was missed
    with lf.Engine(database_url, home=tmp_path) as engine, engine.storage.database.begin() as connection:
        connection.execute(schema.schedules.update().values(considered_until=an_hour_ago))
    result = cli("scheduler", "--once")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("created run ") == 1
    assert orjson.loads(cli("schedule", "list", "--json").output)["last_run_id"] in result.stderr
