"""``ledgerflow runs`` filters by flow, state and creation time (in SQL), and shows durations."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.storage import create_db_engine
from ledgerflow.storage.schema import runs

from .conftest import CrashAt, Invoke

TEN_DAYS_AGO = datetime.now(UTC) - timedelta(days=10)


def set_run(database_url: str, home: Path, run_id: str, **values: Any) -> None:
    engine = create_db_engine(database_url, home)
    try:
        with engine.begin() as connection:
            connection.execute(sa.update(runs).where(runs.c.run_id == run_id).values(**values))
    finally:
        engine.dispose()


@pytest.fixture
def made(database_url: str, flows_file: Path, tmp_path: Path) -> dict[str, str]:
    """Run ids by what they are: an old succeeded run, a failed one, a scheduled one."""
    with lf.Engine(database_url, home=tmp_path) as engine:
        old = engine.run(load_flow(f"{flows_file}:wide"), n=2).id
        failed = engine.run(load_flow(f"{flows_file}:failing")).id
        scheduled = engine.submit(load_flow(f"{flows_file}:wide"), n=3)
    finished = TEN_DAYS_AGO + timedelta(seconds=90)
    set_run(database_url, tmp_path, old, created_at=TEN_DAYS_AGO, updated_at=finished)
    return {"old": old, "failed": failed, "scheduled": scheduled}


def listed(cli: Invoke, *args: str) -> list[dict[str, Any]]:
    result = cli("runs", "--json", *args)
    assert result.exit_code == 0, result.output
    parsed: list[dict[str, Any]] = orjson.loads(result.stdout)
    return parsed


def ids(cli: Invoke, *args: str) -> list[str]:
    return [run["run_id"] for run in listed(cli, *args)]


def test_runs_filter_by_flow_state_and_time(cli: Invoke, made: dict[str, str]) -> None:
    assert ids(cli) == [made["scheduled"], made["failed"], made["old"]]
    assert ids(cli, "--flow", "wide") == [made["scheduled"], made["old"]]
    assert ids(cli, "--flow", "nope") == []
    assert ids(cli, "--state", "failed") == [made["failed"]]
    assert ids(cli, "--state", "SUCCEEDED,scheduled") == [made["scheduled"], made["old"]]
    assert ids(cli, "--flow", "wide", "--state", "SUCCEEDED") == [made["old"]]
    assert ids(cli, "--since", "1d") == [made["scheduled"], made["failed"]]
    assert ids(cli, "--until", "1d") == [made["old"]]
    eleven_days_ago = (TEN_DAYS_AGO - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert ids(cli, "--since", eleven_days_ago, "--until", "5d") == [made["old"]]
    assert ids(cli, "--since", "2999-01-01T00:00:00+00:00") == []
    assert ids(cli, "--since", "30d", "--limit", "1") == [made["scheduled"]]


def test_runs_show_durations(cli: Invoke, made: dict[str, str]) -> None:
    by_id = {run["run_id"]: run for run in listed(cli)}
    assert by_id[made["old"]]["duration_s"] == 90.0 and by_id[made["old"]]["is_finished"]
    assert by_id[made["failed"]]["is_finished"] and by_id[made["failed"]]["duration_s"] >= 0
    assert not by_id[made["scheduled"]]["is_finished"]
    table = cli("runs").stdout
    assert "duration" in table
    old_row = next(line for line in table.splitlines() if made["old"] in line)
    assert "1m 30s" in old_row and "so far" not in old_row
    assert "so far" in next(line for line in table.splitlines() if made["scheduled"] in line)


def test_crashed_and_running_are_told_apart_in_sql(
    cli: Invoke, crash_at: CrashAt, database_url: str, tmp_path: Path
) -> None:
    run_id = crash_at("step-1")  # its driver died: its lease has expired
    assert ids(cli, "--state", "RUNNING") == []
    assert [(run["run_id"], run["state"]) for run in listed(cli, "--state", "crashed")] == [
        (run_id, "CRASHED")
    ]
    set_run(database_url, tmp_path, run_id, lease_expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert ids(cli, "--state", "CRASHED") == []
    assert ids(cli, "--state", "RUNNING") == [run_id]


@pytest.mark.parametrize(("args", "message"), [
    (("--state", "DONE"), "--state 'DONE': DONE is not a run state; valid states: SCHEDULED, PENDING, "
                          "RUNNING, SUCCEEDED, FAILED, CANCELLED, CRASHED"),
    (("--state", ","), "no state is not a run state"),
    (("--since", "yesterday"), "--since 'yesterday' is neither an ISO-8601 time"),
    (("--until", "3x"), "--until '3x' is neither an ISO-8601 time"),
])  # fmt: skip
def test_bad_filters_are_bad_usage(cli: Invoke, args: tuple[str, ...], message: str) -> None:
    result = cli("runs", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
