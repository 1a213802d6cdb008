"""Numbers, durations and times too large to be meant are refused as bad usage (exit 2, no
traceback) by every option that takes one, on both databases."""

from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.engine.moments import MAX_DURATION, OutOfRange, parse_duration, parse_utc_time, time_or_age

from .conftest import Invoke

HUGE = "99999999999999999999"


@pytest.fixture
def run_id(database_url: str, flows_file: Path, tmp_path: Path) -> str:
    with lf.Engine(database_url, home=tmp_path) as engine:
        return engine.run(load_flow(f"{flows_file}:wide"), n=2).id


@pytest.fixture
def interval_schedule(cli: Invoke, flows_file: Path) -> str:
    result = cli("schedule", "add", "daily", f"{flows_file}:wide", "--interval", "1d")
    assert result.exit_code == 0, result.output
    return "daily"


def one_line_error(result_stderr: str) -> str:
    lines = [line for line in result_stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result_stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(("args", "message"), [
    (("runs", "--since", "99999999d"), "--since '99999999d' is too long: at most 10000d"),
    (("runs", "--until", "10001d"), "--until '10001d' is too long: at most 10000d"),
    (("runs", "--since", f"{HUGE}d"), f"--since '{HUGE}d' is too long"),
    (("runs", "--since", "9999-12-31T23:00:00-05:00"), "is out of range: in UTC it falls outside"),
    (("runs", "--until", "0001-01-01T00:00:00+05:00"), "is out of range: in UTC it falls outside"),
    (("archive", "--older-than", "99999999d", "--to", "somewhere"), "--older-than '99999999d' is too long"),
    (("ui", "--token", "  "), "--token (or LEDGERFLOW_UI_TOKEN) is only whitespace"),
])  # fmt: skip
def test_out_of_range_values_are_one_line_of_bad_usage(
    cli: Invoke, args: tuple[str, ...], message: str
) -> None:
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert message in one_line_error(result.stderr)


@pytest.mark.parametrize("interval", ["99999999999d", f"{HUGE}s", "10001d"])
def test_a_huge_schedule_interval_is_refused(cli: Invoke, flows_file: Path, interval: str) -> None:
    result = cli("schedule", "add", "s", f"{flows_file}:wide", "--interval", interval)
    assert result.exit_code == 2, result.output
    assert f"interval '{interval}' is too long: at most 10000d" in one_line_error(result.stderr)
    assert cli("schedule", "list", "--json").stdout == ""


def test_a_huge_catch_up_is_refused(cli: Invoke, flows_file: Path) -> None:
    ref = f"{flows_file}:wide"
    result = cli("schedule", "add", "s", ref, "--interval", "1d", "--catchup", f"backfill:{HUGE}")
    assert result.exit_code == 2, result.output
    assert "backfill:N (1 <= N <= 10000)" in one_line_error(result.stderr)


@pytest.mark.parametrize(("start", "end"), [("0001-01-01", "0001-01-03"), ("9999-12-29", "9999-12-31T23:59")])
def test_a_backfill_at_the_ends_of_the_calendar_is_refused(
    cli: Invoke, interval_schedule: str, start: str, end: str
) -> None:
    result = cli("backfill", interval_schedule, "--from", start, "--to", end)
    assert result.exit_code == 2, result.output
    assert "backfill times must be in the years 1900 to 8999" in one_line_error(result.stderr)


def test_an_out_of_range_point_in_time_is_refused(cli: Invoke, run_id: str) -> None:
    result = cli("replay", run_id, "--at", "9999-12-31T23:00:00-05:00")
    assert result.exit_code == 2, result.output
    assert "is out of range" in one_line_error(result.stderr)
    huge_seq = cli("replay", run_id, "--at", HUGE)
    assert huge_seq.exit_code == 0, huge_seq.output  # past the head: the run as it is


@pytest.mark.parametrize("args", [
    ("runs", "--limit", HUGE),
    ("runs", "--limit", "9999999999"),
    ("archive", "--older-than", "1d", "--to", "somewhere", "--limit", HUGE),
    ("limits", "set", "tag", HUGE),
    ("limits", "set", "tag", "9999999999"),
    ("watch", "RUN", "--poll", "1e300"),
    ("watch", "RUN", "--poll", "inf"),
    ("scheduler", "--once", "--poll", "1e300"),
    ("worker", "--once", "--poll", "1e300"),
    ("worker", "--once", "--lease-ttl", "inf"),
    ("backfill", "daily", "--from", "2026-01-01", "--to", "2026-01-02", "--max-runs", HUGE),
])  # fmt: skip
def test_huge_numbers_are_usage_errors_naming_the_range(cli: Invoke, args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Input should be less than or equal to" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_the_parser_bounds_durations_and_times() -> None:
    assert parse_duration("10000d") == MAX_DURATION
    assert parse_duration(" 5 m ").total_seconds() == 300
    with pytest.raises(OutOfRange, match="is too long: at most 10000d"):
        parse_duration("864000001s")
    with pytest.raises(OutOfRange, match="is too long"):
        parse_duration("9" * 5000 + "d")
    with pytest.raises(OutOfRange, match="out of range"):
        parse_utc_time("0001-01-01T00:00:00+01:00")
    now = parse_utc_time("2026-01-01T00:00:00Z")
    assert time_or_age("10000d", now).year == 1998
    with pytest.raises(OutOfRange):
        time_or_age("10001d", now)
    with pytest.raises(ValueError, match="is neither an ISO-8601 time"):
        time_or_age("soon", now)
