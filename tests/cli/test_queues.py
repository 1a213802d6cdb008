"""Queues, priorities and flow run limits on the command line: ``submit --queue --priority``,
``worker --queue``, ``runs --queue``, ``show``, ``limits set flow:NAME N`` and ``schedule add
--queue --priority``, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent

import orjson
import pytest

import ledgerflow as lf
from ledgerflow.engine.core.events import NewEvent

from .conftest import Invoke
from .test_limits import table_rows

QUEUED = dedent(
    """
    import ledgerflow as lf


    @lf.task
    def double(x: int) -> int:
        return 2 * x


    @lf.flow(max_concurrent_runs=1)
    def limited(x: int = 1):
        return double(x)


    @lf.flow(queue="gpu", priority=3)
    def on_gpu(x: int = 1):
        return double(x)
    """
)


@pytest.fixture
def queued_file(tmp_path: Path) -> Path:
    path = tmp_path / "queued_flows.py"
    path.write_text(QUEUED)
    return path


def submit(cli: Invoke, ref: str, *options: str) -> str:
    done = cli("submit", ref, *options)
    assert done.exit_code == 0, done.output
    return done.stdout.strip()


def listed(cli: Invoke, *options: str) -> list[dict[str, object]]:
    done = cli("runs", "--json", *options)
    assert done.exit_code == 0, done.output
    return list(orjson.loads(done.stdout))


def test_submit_to_a_queue_and_a_worker_of_that_queue(cli: Invoke, queued_file: Path) -> None:
    gpu = submit(cli, f"{queued_file}:on_gpu", "-p", "x=2")
    urgent = submit(cli, f"{queued_file}:limited", "--queue", "gpu", "--priority", "10")
    plain = submit(cli, f"{queued_file}:limited", "--priority", "-1")
    runs = {run["id"]: (run["queue"], run["priority"]) for run in listed(cli)}
    assert runs == {gpu: ("gpu", 3), urgent: ("gpu", 10), plain: ("default", -1)}
    assert [run["id"] for run in listed(cli, "--queue", "gpu")] == [urgent, gpu]
    table = table_rows(cli("runs", "--queue", "default").output)
    assert [row[:5] for row in table] == [[plain, "limited", "SCHEDULED", "default", "-1"]]
    once = cli("worker", "--once", "--queue", "gpu", "--queue", "cpu")
    assert once.exit_code == 0, once.output
    assert f"drove submitted run {urgent}" in once.stderr  # priority 10 first
    assert cli("worker", "--once").exit_code == 0
    states = {run["id"]: run["state"] for run in listed(cli)}
    assert states == {urgent: "SUCCEEDED", gpu: "SCHEDULED", plain: "SUCCEEDED"}


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--queue", "a/b"], "queue 'a/b'"), (["--priority", "high"], "--priority"),
     (["--priority", str(2**31)], "--priority")],
)  # fmt: skip
def test_a_bad_queue_or_priority_is_bad_usage(
    cli: Invoke, queued_file: Path, options: list[str], message: str
) -> None:
    refused = cli("submit", f"{queued_file}:limited", *options)
    assert refused.exit_code == 2 and message in refused.output
    assert cli("worker", "--once", "--queue", "").exit_code == 2


def test_runs_waiting_for_their_flow_limit_say_so(
    cli: Invoke, queued_file: Path, database_url: str, tmp_path: Path
) -> None:
    first, second = (submit(cli, f"{queued_file}:limited") for _ in range(2))
    with lf.Engine(database_url, home=tmp_path) as engine:  # a worker that took the first
        assert engine.storage.log.claim_scheduled("w", 60) == [first]
        engine.storage.log.append(first, 1, [NewEvent(None, "run.running", {"owner": "w"})], owner="w")
    waiting = {run["id"]: run["waiting_for_flow_limit"] for run in listed(cli)}
    assert waiting == {first: None, second: {"running": 1, "limit": 1}}
    assert "SCHEDULED  waiting for flow limit (1 of 1 running)" in cli("runs").output
    shown = cli("show", second)
    assert shown.exit_code == 0, shown.output
    assert "waiting for flow limit (1 of 1 running)" in shown.output
    assert "default, priority 0; at most 1 run(s) of its flow at once" in shown.output
    as_json = orjson.loads(cli("show", second, "--json").stdout)
    assert (as_json["queue"], as_json["priority"], as_json["max_concurrent_runs"]) == ("default", 0, 1)
    assert as_json["waiting_for_flow_limit"] == {"running": 1, "limit": 1}
    raised = cli("limits", "set", "flow:limited", "2")
    assert raised.output.strip() == "limit of runs of flow 'limited' set to 2"
    assert listed(cli)[0]["waiting_for_flow_limit"] is None
    assert table_rows(cli("limits").output) == [["limited", "2", "limits set flow:NAME", "1", "1"]]


def test_a_crashed_run_of_a_full_flow_says_it_waits_for_the_flow_limit(
    cli: Invoke, queued_file: Path, database_url: str, tmp_path: Path
) -> None:
    crashed, holder = (submit(cli, f"{queued_file}:limited") for _ in range(2))
    with lf.Engine(database_url, home=tmp_path) as engine:
        log, long_ago = engine.storage.log, datetime.now(UTC) - timedelta(minutes=5)
        assert log.claim_scheduled("dead", 60, now=long_ago) == [crashed]  # its worker died since
        log.append(crashed, 1, [NewEvent(None, "run.running", {"owner": "dead"})], owner="dead")
        assert log.claim_scheduled("w", 60) == [holder]  # the crashed run's slot came back: taken
        log.append(holder, 1, [NewEvent(None, "run.running", {"owner": "w"})], owner="w")
    runs = {run["id"]: run for run in listed(cli)}
    assert runs[crashed]["state"] == "CRASHED"
    assert runs[crashed]["waiting_for_flow_limit"] == {"running": 1, "limit": 1}
    assert runs[holder]["waiting_for_flow_limit"] is None
    assert "CRASHED  waiting for flow limit (1 of 1 running)" in cli("runs").output
    shown = cli("show", crashed)
    assert "CRASHED  waiting for flow limit (1 of 1 running)" in shown.output
    assert "or a running `ledgerflow worker` will once a slot of its flow is free" in shown.output
    assert orjson.loads(cli("show", crashed, "--json").stdout)["waiting_for_flow_limit"] == {
        "running": 1,
        "limit": 1,
    }


def test_schedules_take_a_queue_and_priority(cli: Invoke, queued_file: Path) -> None:
    added = cli("schedule", "add", "nightly", f"{queued_file}:limited", "--interval", "1d",
                "--queue", "gpu", "--priority", "5")  # fmt: skip
    assert added.exit_code == 0, added.output
    [shown] = [orjson.loads(line) for line in cli("schedule", "list", "--json").stdout.splitlines()]
    assert (shown["queue"], shown["priority"]) == ("gpu", 5)
    assert "gpu, priority 5" in cli("schedule", "list").output
    backfilled = cli("backfill", "nightly", "--from", "2026-01-01", "--to", "2026-01-01")
    assert backfilled.exit_code == 0, backfilled.output
    [run] = listed(cli)
    assert (run["queue"], run["priority"]) == ("gpu", 5)
    refused = cli("schedule", "add", "bad", f"{queued_file}:limited", "--interval", "1d", "--queue", "a/b")
    assert refused.exit_code == 2 and "a/b" in refused.output
