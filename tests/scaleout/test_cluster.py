"""Submitted runs driven by two ``ledgerflow worker`` processes on a real Dask cluster."""

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

import ledgerflow as lf
from ledgerflow.engine.flow import Flow
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.executors.dask_executor import DaskExecutor

from ..intervals import peak_overlap
from .conftest import POLL, SCRIPT, Cluster, LedgerflowWorkers, child_env, registry, wait_until

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
FLOWS = Path(__file__).with_name("flows.py")


def flow(name: str) -> Flow[..., Any]:
    """A flow of flows.py loaded by path: workers load the file, Dask gets its tasks by value."""
    return load_flow(f"{FLOWS}:{name}")


def state_of(engine: lf.Engine, run_id: str) -> str:
    return engine.storage.log.run(run_id).state


def wait_finished(engine: lf.Engine, *run_ids: str) -> None:
    wait_until(lambda: all(state_of(engine, run_id) in TERMINAL for run_id in run_ids), "the runs finished")


def runnings(engine: lf.Engine, run_id: str) -> list[tuple[str, str]]:
    """(owner, reason) of each run.running event of the run."""
    return [
        (event.payload["owner"], event.payload["reason"])
        for event in engine.events(run_id)
        if event.type == "run.running"
    ]


def test_submitted_runs_complete_exactly_once_with_resources_routed(
    cluster: Cluster, engine: lf.Engine, lf_workers: LedgerflowWorkers
) -> None:
    run_ids = [engine.submit(flow("routed"), n=n) for n in range(2, 10)]
    gpu_run = engine.submit(flow("gpu"))
    assert all(engine.events(run_id)[0].payload["state"] == "SCHEDULED" for run_id in run_ids)
    wait_finished(engine, *run_ids, gpu_run)
    memory = cluster.memory_workers()
    names = {worker.name for worker in registry(engine).workers()}
    for n, run_id in enumerate(run_ids, start=2):
        [(owner, reason)] = runnings(engine, run_id)
        assert owner in names and reason == "worker"
        run = engine.get_run(run_id)
        assert run.state == "SUCCEEDED", run_id
        assert run.result() == {"total": sum(x * x for x in range(n)), "worker": run.result()["worker"]}
        assert run.result()["worker"] in memory  # the MEMORY task ran on the MEMORY worker only
        succeeded = Counter(e.task_key for e in engine.events(run_id) if e.type == "task.succeeded")
        assert set(succeeded.values()) == {1} and len(succeeded) == n + 1
    failed = engine.get_run(gpu_run)
    assert failed.state == "FAILED"
    error = failed.tasks["on_gpu"].error
    assert error is not None and error["type"] == "ledgerflow.NoWorkerForResources"
    assert "GPU=1" in error["message"]


def test_a_tag_limit_holds_across_runs_workers_and_machines(
    engine: lf.Engine, lf_workers: LedgerflowWorkers
) -> None:
    engine.set_limit("db", 2)
    run_ids = [engine.submit(flow("limited"), steps=4, seconds=0.4) for _ in range(4)]
    wait_finished(engine, *run_ids)
    windows = []
    for run_id in run_ids:
        run = engine.get_run(run_id)
        assert run.state == "SUCCEEDED", run_id
        windows += run.result()
    drivers = {owner for run_id in run_ids for owner, _ in runnings(engine, run_id)}
    assert len(windows) == 16 and len(drivers) == 2  # both ledgerflow workers drove some
    assert peak_overlap(windows) == 2  # 4 Dask threads, but never more than the limit at once
    [usage] = [tag for tag in engine.limits() if tag.tag == "db"]
    assert (usage.in_use, usage.waiting) == (0, ())  # every slot given back


def test_unoffered_resources_fail_within_the_bounded_wait(
    cluster: Cluster, database: str, home: Path
) -> None:
    with (
        DaskExecutor(address=cluster.address, resource_timeout=2) as executor,
        lf.Engine(database, executor, home=home) as engine,
    ):
        started = time.monotonic()
        run = engine.run(flow("gpu"))
        waited = time.monotonic() - started
    assert run.state == "FAILED" and waited < 30
    error = run.tasks["on_gpu"].error
    assert error is not None and error["type"] == "ledgerflow.NoWorkerForResources"
    assert "no Dask worker offers" in error["message"]


def test_a_killed_dask_workers_task_is_rerun_and_recorded(
    cluster: Cluster, engine: lf.Engine, lf_workers: LedgerflowWorkers
) -> None:
    run_id = engine.submit(flow("dies_once"))
    wait_finished(engine, run_id)
    run = engine.get_run(run_id)
    assert run.state == "SUCCEEDED" and run.result()["attempt"] == 2
    assert run.tasks["die_once"].attempts == 2
    [retrying] = [event for event in engine.events(run_id) if event.type == "task.retrying"]
    assert retrying.payload["infrastructure"] is True
    assert retrying.payload["error"]["type"] == "distributed.scheduler.KilledWorker"
    assert retrying.payload["worker"].startswith("tcp://127.0.0.1:")  # the worker that died
    cluster.client.wait_for_workers(2, timeout=60)  # the nanny restarted it


def test_a_task_that_keeps_killing_workers_fails_with_the_cause(
    cluster: Cluster, engine: lf.Engine, lf_workers: LedgerflowWorkers
) -> None:
    run_id = engine.submit(flow("dies_always"))
    wait_finished(engine, run_id)
    run = engine.get_run(run_id)
    assert run.state == "FAILED"
    task = run.tasks["die_always"]
    assert task.state == "FAILED" and task.attempts == 4  # 1 + 3 infrastructure retries
    assert task.error is not None and task.error["type"] == "distributed.scheduler.KilledWorker"
    types = [event.type for event in engine.events(run_id) if event.task_key == "die_always"]
    assert types.count("task.retrying") == 3 and types[-1] == "task.failed"
    cluster.client.wait_for_workers(2, timeout=60)


def test_the_workers_command_lists_both_workers_with_heartbeats(
    database: str, home: Path, engine: lf.Engine, lf_workers: LedgerflowWorkers
) -> None:
    pids = {process.pid for process in lf_workers.processes}
    before = {w.pid: w.heartbeat_at for w in registry(engine).workers() if w.pid in pids}
    wait_until(
        lambda: all(w.heartbeat_at > before[w.pid] for w in registry(engine).workers() if w.pid in pids),
        "both workers heartbeat again",
    )
    listed = subprocess.run(
        [str(SCRIPT), "workers", "--json", "--poll", str(POLL), "--database", database],
        env=child_env(LEDGERFLOW_HOME=str(home)), capture_output=True, text=True, timeout=60, check=True,
    )
    mine = [worker for worker in orjson.loads(listed.stdout) if worker["pid"] in pids]
    assert len(mine) == 2
    assert all(worker["state"] == "running" and worker["healthy"] for worker in mine)
    assert all(worker["heartbeat_age"] < 30 for worker in mine)
    assert sum(worker["runs_driven"] for worker in mine) >= 9  # the runs of the tests above
    table = subprocess.run(
        [str(SCRIPT), "workers", "--database", database],
        env=child_env(LEDGERFLOW_HOME=str(home), COLUMNS="200"), capture_output=True, text=True,
        timeout=60, check=True,
    )
    assert table.stdout.count("healthy") >= 2


def test_a_killed_ledgerflow_workers_run_is_resumed_by_the_other(
    engine: lf.Engine, lf_workers: LedgerflowWorkers
) -> None:
    run_id = engine.submit(flow("slow"), steps=8, seconds=1.5)
    wait_until(lambda: bool(runnings(engine, run_id)), "a worker started the run")
    [(owner, _)] = runnings(engine, run_id)
    pid = {worker.name: worker.pid for worker in registry(engine).workers()}[owner]
    [victim] = [process for process in lf_workers.processes if process.pid == pid]
    victim.signal(signal.SIGKILL)
    victim.popen.wait(10)
    wait_finished(engine, run_id)
    (first, first_reason), (second, second_reason) = runnings(engine, run_id)
    assert (first, first_reason, second_reason) == (owner, "worker", "resume") and second != owner
    assert state_of(engine, run_id) == "SUCCEEDED"
    succeeded = Counter(e.task_key for e in engine.events(run_id) if e.type == "task.succeeded")
    assert set(succeeded.values()) == {1} and len(succeeded) == 8  # each child once


def test_sigterm_finishes_the_run_then_marks_the_worker_stopped(
    engine: lf.Engine, lf_workers: LedgerflowWorkers
) -> None:
    alive = [process for process in lf_workers.processes if process.popen.poll() is None]
    run_id = engine.submit(flow("slow"), steps=4, seconds=1.0)
    wait_until(lambda: bool(runnings(engine, run_id)), "a worker started the run")
    [(owner, _)] = runnings(engine, run_id)
    pid = {worker.name: worker.pid for worker in registry(engine).workers()}[owner]
    [driver] = [process for process in alive if process.pid == pid]
    driver.signal(signal.SIGTERM)
    assert driver.popen.wait(60) == 0, driver.output()
    assert state_of(engine, run_id) == "SUCCEEDED"
    assert len(runnings(engine, run_id)) == 1
    [record] = [worker for worker in registry(engine).workers() if worker.pid == pid]
    assert record.state == "stopped"


def test_a_second_sigterm_hands_the_run_back_to_another_worker(
    engine: lf.Engine, lf_workers: LedgerflowWorkers
) -> None:
    driver = lf_workers.start()
    wait_until(lambda: driver.pid in {w.pid for w in registry(engine).workers()}, "the worker registered")
    run_id = engine.submit(flow("slow"), steps=6, seconds=1.5)
    wait_until(lambda: bool(runnings(engine, run_id)), "the worker started the run")
    driver.signal(signal.SIGTERM)
    wait_until(lambda: "claims no more runs" in driver.output(), "the first signal was handled")
    driver.signal(signal.SIGTERM)
    assert driver.popen.wait(30) == 0, driver.output()
    [record] = [worker for worker in registry(engine).workers() if worker.pid == driver.pid]
    assert record.state == "stopped"
    assert state_of(engine, run_id) not in TERMINAL
    [handed] = [e.payload for e in engine.events(run_id) if e.type == "run.handed_back"]
    assert handed["reason"] == "worker stopping" and handed["owner"] == runnings(engine, run_id)[0][0]
    lf_workers.start()  # picks the run up at once: its lease was given up
    wait_finished(engine, run_id)
    assert state_of(engine, run_id) == "SUCCEEDED"
    assert [reason for _, reason in runnings(engine, run_id)] == ["worker", "resume"]
