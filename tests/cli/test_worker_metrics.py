"""A real ``ledgerflow worker --metrics-port`` process, scraped after it drove runs (one
retrying, one failing with a hook, one cached), logging JSON lines
(``LEDGERFLOW_LOG_FORMAT=json``): its metrics say what the log says, and every line of its
stderr is a JSON object naming the run, task and attempt where they apply."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow

from ..crash.processes import wait_until
from ..metric_samples import FLOWS, assert_same, counted, expected, parse, sample

SCRIPT = Path(sys.executable).with_name("ledgerflow")
CLI = "ledgerflow.cli"  # the logger of the status lines


class JsonWorker:
    """``ledgerflow -v worker`` logging JSON lines to a file, with metrics on a free port."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.stderr = tmp_path / "worker.stderr"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERFLOW_")}
        env.update(LEDGERFLOW_HOME=str(tmp_path / "home"), LEDGERFLOW_LOG_FORMAT="json")
        args = [
            str(SCRIPT), "-v", "worker", "--poll", "0.2", "--max-runs", "4", "--metrics-port", "0",
            "--metrics-host", "127.0.0.1", "--database", database_url,
        ]  # fmt: skip
        with self.stderr.open("wb") as out:
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=out, env=env)

    def records(self) -> list[dict[str, Any]]:
        """The complete lines written so far, each parsed as a JSON object."""
        text = self.stderr.read_text()
        return [orjson.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]

    def said(self, prefix: str) -> list[dict[str, Any]]:
        return [record for record in self.records() if record["message"].startswith(prefix)]

    def drove(self, *run_ids: str) -> bool:
        assert self.process.poll() is None, self.stderr.read_text()
        return {record.get("run_id") for record in self.said("drove submitted run")} >= set(run_ids)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@pytest.fixture
def worker(tmp_path: Path, database_url: str) -> Iterator[JsonWorker]:
    started = JsonWorker(tmp_path, database_url)
    try:
        yield started
    finally:
        started.stop()


@pytest.mark.slow
def test_a_worker_serves_metrics_that_say_what_the_log_says(
    tmp_path: Path, database_url: str, worker: JsonWorker
) -> None:
    flows = tmp_path / "metric_flows.py"
    flows.write_text(FLOWS)
    flow = {name: load_flow(f"{flows}:{name}") for name in ("retrying", "failing", "cached")}
    with lf.Engine(database_url, home=tmp_path / "home") as engine:
        runs = [engine.submit(flow["retrying"], n=3), engine.submit(flow["failing"])]
        runs.append(engine.submit(flow["cached"]))
        wait_until(lambda: worker.drove(*runs), "the worker drove the three runs")
        runs.append(engine.submit(flow["cached"]))  # now a cache hit
        wait_until(lambda: worker.drove(*runs), "the worker drove the second cached run")
        engine.submit_flow(flow["retrying"], {}, queue="gpu")  # no worker of that queue
        engine.set_limit("db", 3)
        logs = [engine.events(run_id) for run_id in runs]
    assert [log[-1].type for log in logs] == ["run.succeeded", "hook.sent", "run.succeeded", "run.succeeded"]
    (address,) = worker.said("worker ")[0]["message"].split("serves metrics on ")[1:]
    scraped = httpx.get(address, timeout=30)
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    samples = parse(scraped.text)
    assert_same(counted(samples), expected(logs))
    attempts = "ledgerflow_task_attempts_total"
    assert sample(samples, attempts, flow="cached", task="square", outcome="CACHED") == 2
    assert sample(samples, "ledgerflow_log_events_appended_total") == sum(map(len, logs)) - len(runs)
    assert sample(samples, "ledgerflow_runs_waiting", queue="gpu") == 1
    assert sample(samples, "ledgerflow_runs_waiting", queue="default") is None
    assert sample(samples, "ledgerflow_limit_slots", tag="db", state="limit") == 3
    assert sample(samples, "ledgerflow_limit_slots", tag="db", state="used") == 0
    assert sample(samples, "ledgerflow_runs_in_progress") == 0
    beats = "ledgerflow_worker_heartbeat_age_seconds"
    ages = [value for (name, _), value in samples.items() if name == beats]
    assert len(ages) == 1 and 0 <= ages[0] < 60
    assert worker.stop() == 0
    _check_json_lines(worker, failed=runs[1])


def _check_json_lines(worker: JsonWorker, failed: str) -> None:
    records = worker.records()  # each line parsed: the lines are JSON, all of them
    assert len(records) == len(worker.stderr.read_text().splitlines()) > 5
    assert all({"ts", "level", "logger", "message"} <= record.keys() for record in records)
    (warned,) = [record for record in records if record["logger"] == "metrics.flows"]
    assert warned["level"] == "WARNING" and warned["message"] == "broken(1) is about to fail"
    assert (warned["run_id"], warned["task_key"], warned["attempt"]) == (failed, "broken", 1)
    said = [record for record in records if record["logger"] == CLI and failed in record["message"]]
    assert [record.get("run_id") for record in said] == [failed]
    assert said[0]["message"].startswith(f"drove submitted run {failed} (flow failing): FAILED")
    (driving,) = [record for record in records if f"driving run {failed} " in record["message"]]
    assert driving["run_id"] == failed  # written between runs, the record names its run itself
    assert records[-1]["message"].endswith("stopped")
