"""The commands in-process (CliRunner), on SQLite and PostgreSQL."""

from datetime import datetime
from pathlib import Path

import orjson
import sqlalchemy as sa

from ledgerflow.storage import create_db_engine

from .conftest import Invoke


def run_id_of(output: str) -> str:
    """The id a ``run`` printed on its ``run id:`` line."""
    for line in output.splitlines():
        if line.startswith("run id: "):
            return line.removeprefix("run id: ").strip()
    raise AssertionError(f"no run id in output:\n{output}")


def test_run_converts_parameters_and_summarises(cli: Invoke, flows_file: Path) -> None:
    result = cli("run", f"{flows_file}:arithmetic", "-p", "n=3", "-p", "xs=[1, 2]", "-p", "negate=yes")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for key in ("double[0]", "double[1]", "total", "describe"):
        assert key in out
    assert "state: SUCCEEDED" in out
    assert "'total': -9" in out
    assert "'kinds': 'int list int int bool'" in out
    assert "tasks done" in out  # plain progress lines when stdout is not a terminal


def test_run_of_a_failing_flow_exits_1_with_the_error(cli: Invoke, flows_file: Path) -> None:
    result = cli("run", f"{flows_file}:failing", "-p", "x=7")
    assert result.exit_code == 1, result.output
    assert "state: FAILED" in result.stdout
    assert "RuntimeError" in result.stdout
    assert "kaboom 7" in result.stdout
    assert "UPSTREAM_FAILED" in result.stdout


def test_many_mapped_children_are_one_row(cli: Invoke, flows_file: Path) -> None:
    result = cli("run", f"{flows_file}:wide", "-p", "n=25")
    assert result.exit_code == 0, result.output
    assert "double[0..24] (25 tasks)" in result.stdout
    assert "25 SUCCEEDED" in result.stdout
    assert "double[3]" not in result.stdout
    shown = cli("show", run_id_of(result.stdout), "--expand")
    assert "double[3]" in shown.stdout


def test_bad_parameters_are_bad_usage(cli: Invoke, flows_file: Path) -> None:
    ref = f"{flows_file}:arithmetic"
    cases = {
        ("-p", "n=three", "-p", "xs=[1]"): "parameter 'n' of flow 'arithmetic'",
        ("-p", "n=1", "-p", "xs=[1, 2.5]"): "parameter 'xs' of flow 'arithmetic'",
        ("-p", "n=1", "-p", "xs=[1]", "-p", "negate=perhaps"): "parameter 'negate'",
        ("-p", "n=1", "-p", "xs=[1]", "-p", "colour=red"): "parameter 'colour'",
        ("-p", "xs=[1]"): "missing a required argument: 'n'",
    }
    for options, message in cases.items():
        result = cli("run", ref, *options)
        assert result.exit_code == 2, (options, result.output)
        assert message in result.stderr
        assert "Traceback" not in result.output
    assert cli("runs", "--json").stdout.strip() == "[]"  # nothing was started


def test_unknown_flows_are_bad_usage(cli: Invoke, flows_file: Path, tmp_path: Path) -> None:
    cases = {
        f"{tmp_path / 'missing.py'}:flow": "no such file",
        f"{flows_file}:nope": "has no attribute 'nope'",
        f"{flows_file}:not_a_flow": "not an @lf.flow",
        "no_such_module_xyz:flow": "cannot import module",
        "no-colon": "must look like FILE.py:FLOW",
    }
    for ref, message in cases.items():
        result = cli("run", ref)
        assert result.exit_code == 2, (ref, result.output)
        assert message in result.stderr
        assert "Traceback" not in result.output


def test_a_flow_file_that_raises_on_import_is_bad_usage(cli: Invoke, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise ImportError('needs a missing dependency')\n")
    result = cli("run", f"{broken}:flow")
    assert result.exit_code == 2
    assert "ImportError: needs a missing dependency" in result.stderr


def test_runs_lists_runs_as_json_and_table(cli: Invoke, flows_file: Path) -> None:
    first = run_id_of(cli("run", f"{flows_file}:wide", "-p", "n=2").stdout)
    second = run_id_of(cli("run", f"{flows_file}:failing").stdout)
    listed = orjson.loads(cli("runs", "--json").stdout)
    assert [run["run_id"] for run in listed] == [second, first]
    assert listed[0]["state"] == "FAILED" and listed[1]["state"] == "SUCCEEDED"
    assert listed[1]["flow"] == "wide" and listed[1]["events"] > 5
    assert len(orjson.loads(cli("runs", "--json", "--limit", "1").stdout)) == 1
    table = cli("runs")
    assert table.exit_code == 0
    assert first in table.stdout and second in table.stdout and "FAILED" in table.stdout


def test_show_events_verify_and_replay_a_real_run(cli: Invoke, flows_file: Path) -> None:
    run_id = run_id_of(cli("run", f"{flows_file}:failing", "-p", "x=3").stdout)
    shown = cli("show", run_id)
    assert shown.exit_code == 0, shown.output
    for text in ("failing", '{"x":3}', "FAILED", "explode", "RuntimeError", "kaboom 3"):
        assert text in shown.stdout
    lines = cli("events", run_id, "--json").stdout.splitlines()
    events = [orjson.loads(line) for line in lines]
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run.created" and events[-1]["type"] == "run.failed"
    assert {"run_id", "task_key", "payload", "ts", "prev_hash", "hash"} <= set(events[0])
    table = cli("events", run_id).stdout
    assert "task.failed" in table and events[-1]["hash"][:12] in table
    verified = cli("verify", run_id)
    assert verified.exit_code == 0
    assert f"OK: run {run_id}: {len(events)} events verified" in verified.stdout
    running = next(e for e in events if e["type"] == "task.running")
    at_seq = cli("replay", run_id, "--at", str(running["seq"]))
    assert at_seq.exit_code == 0, at_seq.output
    explode_row = next(line for line in at_seq.stdout.split("as of")[1].splitlines() if "explode" in line)
    assert "RUNNING" in explode_row
    naive = datetime.fromisoformat(events[0]["ts"]).replace(tzinfo=None).isoformat()
    at_time = cli("replay", run_id, "--at", naive)
    assert at_time.exit_code == 0, at_time.output
    assert "as of seq 1 " in at_time.stdout


def test_replay_refuses_a_bad_point(cli: Invoke, flows_file: Path) -> None:
    run_id = run_id_of(cli("run", f"{flows_file}:wide", "-p", "n=1").stdout)
    for point, message in (("yesterday", "neither a seq nor an ISO-8601 time"),
                           ("0", "a seq starts at 1"),
                           ("2000-01-01T00:00:00Z", "no events at that point")):
        result = cli("replay", run_id, "--at", point)
        assert result.exit_code == 2, (point, result.output)
        assert message in result.stderr


def test_verify_of_a_tampered_run_names_the_seq(
    cli: Invoke, flows_file: Path, database_url: str, tmp_path: Path
) -> None:
    run_id = run_id_of(cli("run", f"{flows_file}:wide", "-p", "n=2").stdout)
    engine = create_db_engine(database_url, tmp_path)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE events SET payload = :payload WHERE run_id = :run AND seq = 4"),
                {"payload": '{"attempt":2}', "run": run_id},
            )
    finally:
        engine.dispose()
    result = cli("verify", run_id)
    assert result.exit_code == 1
    assert "first bad seq 4" in result.stdout
    assert "edited row" in result.stdout


def test_unknown_run_ids_are_a_clear_error(cli: Invoke) -> None:
    for command in (["show"], ["events"], ["events", "--json"], ["verify"], ["replay", "--at", "1"],
                    ["resume"], ["restart"], ["restart", "--from", "x"]):
        result = cli(command[0], "20000101-000000-deadbeef", *command[1:])
        assert result.exit_code == 2, (command, result.output)
        assert "no run with id '20000101-000000-deadbeef'" in result.stderr
        assert "Traceback" not in result.output


def test_db_upgrade_names_the_database(cli: Invoke, database_url: str) -> None:
    result = cli("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "is up to date" in result.stdout
    assert sa.make_url(database_url).database in result.stdout
    again = cli("db", "upgrade")
    assert again.exit_code == 0
