"""Many runs driven by ONE ledgerflow worker process against raw Dask on one LocalCluster.

    python benchmarks/bench_many_runs.py [--runs 200] [--steps 4] [--seconds 0.05]
                                         [--queued 2000] [--max-runs 200] [--starts 20]
                                         [--poll 10] [--postgres URL]

(a) RUNS runs, each a chain of STEPS tasks sleeping SECONDS, on a LocalCluster with 8
threads (2 worker processes x 4): raw Dask submits the same chains at once (chained
``client.submit``); ledgerflow submits the runs one after the other (``engine.submit``, as
a notebook would) to a fresh PostgreSQL database, where one ``ledgerflow worker
--dask-address ... --max-runs MAX_RUNS --poll POLL`` process, started before and idle (as
raw Dask's client is connected before its clock starts; a warm-up run shows it is ready),
drives them. Wall time from the first submission to the last run's end, and the ratio to
raw Dask from this run.
(c) STARTS one-task runs submitted one at a time to that idle worker: submit-to-start
latency (``run.created`` to ``run.running``, as their events record them). The worker
polls only every POLL seconds (default 10): LISTEN/NOTIFY wakes it.
(b) QUEUED one-task runs, submitted before the worker starts, drained by one worker on
threads: runs per second from the worker's start (process start-up included) and from the
first run's start to the last run's end, and the worker's peak threads and peak RSS (read
from /proc).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from bench_core import DEFAULT_POSTGRES, fresh_postgres
from distributed import Client, LocalCluster

import ledgerflow as lf

WORKER_POLL = 10.0
"""The worker's poll interval by default (seconds): it finds submitted runs by LISTEN/NOTIFY."""


@lf.task
def step(previous: int, seconds: float) -> int:
    time.sleep(seconds)
    return previous + 1


@lf.flow(name="experiment")
def experiment(steps: int, seconds: float) -> Any:
    value: Any = 0
    for _ in range(steps):
        value = step(value, seconds)
    return value


@lf.task
def one(x: int) -> int:
    return x


@lf.flow(name="one_task")
def one_task(x: int) -> Any:
    return one(x)


def raw_chains(client: Client, runs: int, steps: int, seconds: float) -> float:
    start = time.perf_counter()
    ends = []
    for _ in range(runs):
        future = client.submit(step.fn, 0, seconds, pure=False)
        for _ in range(steps - 1):
            future = client.submit(step.fn, future, seconds, pure=False)
        ends.append(future)
    assert client.gather(ends) == [steps] * runs
    return time.perf_counter() - start


class Sampler:
    """Samples a process's thread count and resident size from /proc until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid, self.threads, self.rss_kib = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            try:
                fields = dict(
                    line.split(":", 1) for line in Path(f"/proc/{self.pid}/status").read_text().splitlines()
                )
            except (OSError, ValueError):
                return
            self.threads = max(self.threads, int(fields["Threads"]))
            self.rss_kib = max(self.rss_kib, int(fields["VmHWM"].split()[0]))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def start_worker(
    database: str, home: str, max_runs: int, dask_address: str | None, poll: float
) -> subprocess.Popen[bytes]:
    """One ``ledgerflow worker`` process (the console script next to this Python)."""
    script = Path(sys.executable).parent / "ledgerflow"
    args = [
        str(script), "worker", "--database", database, "--max-runs", str(max_runs),
        "--poll", str(poll), "--no-schedules",
    ]  # fmt: skip
    if dask_address is not None:
        args += ["--dask-address", dask_address]
    env = {**os.environ, "LEDGERFLOW_HOME": home}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ended(engine: lf.Engine, runs: int, timeout: float = 600) -> None:
    """Wait until ``runs`` runs of the (fresh) database have ended (polls the read model's counts)."""
    deadline = time.monotonic() + timeout
    ended = 0
    while time.monotonic() < deadline:
        counts = engine.run_counts()
        ended = sum(counts.get(state, 0) for state in ("SUCCEEDED", "FAILED", "CANCELLED"))
        if ended >= runs:
            return
        time.sleep(0.005)
    raise TimeoutError(f"{runs - ended} runs did not end within {timeout} s")


def submitted_to_idle(
    engine: lf.Engine, flow: lf.Flow[..., Any], params: list[dict[str, Any]]
) -> tuple[float, list[str]]:
    """Submit the runs to the running worker and wait for every run's end; wall seconds and
    the run ids."""
    before = sum(engine.run_counts().values())
    start = time.perf_counter()
    run_ids = [engine.submit(flow, **p) for p in params]
    wait_ended(engine, before + len(run_ids))
    elapsed = time.perf_counter() - start
    assert {engine.storage.log.run(r).state for r in run_ids} == {"SUCCEEDED"}
    return elapsed, run_ids


def start_latencies(engine: lf.Engine, count: int) -> list[float]:
    """Submit one-task runs one at a time to the idle worker; seconds from each run's
    creation to its start, as its events record them."""
    latencies = []
    for i in range(count):
        _, (run_id,) = submitted_to_idle(engine, one_task, [{"x": i}])
        stamps = {event.type: event.ts for event in engine.events(run_id)}
        latencies.append((stamps["run.running"] - stamps["run.created"]).total_seconds())
    return latencies


def queued_drain(
    database: str, home: str, queued: int, max_runs: int, poll: float
) -> tuple[float, float, Sampler]:
    """Queue one-task runs, then start one worker on threads and wait for every run's end:
    seconds from the worker's start, seconds from the first run's start to the last end."""
    with lf.Engine(database, home=home) as engine:
        for i in range(queued):
            engine.submit(one_task, x=i)
        start = time.perf_counter()
        worker = start_worker(database, home, max_runs, None, poll)
        sampler = Sampler(worker.pid)
        try:
            wait_ended(engine, queued)
            elapsed = time.perf_counter() - start
        finally:
            sampler.stop()
            worker.terminate()
            worker.wait(60)
        assert engine.run_counts() == {"SUCCEEDED": queued}
        with engine.storage.sql_engine("the benchmark").connect() as connection:
            first, last = connection.execute(
                sa.text("SELECT min(ts) FILTER (WHERE type = 'run.running'), max(ts) FROM events")
            ).one()
    return elapsed, (last - first).total_seconds(), sampler


def chains_against_raw_dask(args: argparse.Namespace, home: str) -> tuple[float, float, Sampler, list[float]]:
    """(a) and (c): raw Dask's seconds, ours, the worker's sampler and its start latencies."""
    chains = [{"steps": args.steps, "seconds": args.seconds}] * args.runs
    with LocalCluster(n_workers=2, threads_per_worker=4, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            raw_chains(client, 8, args.steps, 0.0)  # warm up
            raw = raw_chains(client, args.runs, args.steps, args.seconds)
        database, drop = fresh_postgres(args.postgres)
        try:
            with lf.Engine(database, home=home) as engine:
                worker = start_worker(database, home, args.max_runs, cluster.scheduler_address, args.poll)
                sampler = Sampler(worker.pid)
                try:
                    submitted_to_idle(engine, experiment, [{"steps": 1, "seconds": 0.0}])  # warm up
                    ours, _ = submitted_to_idle(engine, experiment, chains)
                    latencies = sorted(start_latencies(engine, args.starts))
                finally:
                    sampler.stop()
                    worker.terminate()
                    worker.wait(60)
        finally:
            drop()
    return raw, ours, sampler, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=0.05)
    parser.add_argument("--queued", type=int, default=2000)
    parser.add_argument("--max-runs", type=int, default=200)
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--poll", type=float, default=WORKER_POLL, help="the worker's poll interval (s)")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("LEDGERFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server URL; fresh databases are created on it and dropped after",
    )
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="ledgerflow-bench-")
    raw, ours, sampler, latencies = chains_against_raw_dask(args, home)
    database, drop = fresh_postgres(args.postgres)
    try:
        queued, busy, drained = queued_drain(database, home, args.queued, args.max_runs, args.poll)
    finally:
        drop()
    work = args.runs * args.steps * args.seconds
    print(
        f"(a) {args.runs} runs x a chain of {args.steps} steps of {args.seconds * 1000:g} ms "
        f"({work:.1f} s of work) on 8 Dask threads, one worker --max-runs {args.max_runs}, PostgreSQL"
    )
    print(f"    raw Dask (chained submit)      {raw:8.2f} s")
    print(f"    ledgerflow, one worker         {ours:8.2f} s   {ours / raw:.2f}x raw Dask")
    print(f"    worker peak threads {sampler.threads}, peak RSS {sampler.rss_kib / 1024:.0f} MiB")
    median, longest = latencies[len(latencies) // 2], latencies[-1]
    print(
        f"(c) submit-to-start latency, idle worker polling every {args.poll:g} s, {args.starts} runs: "
        f"median {median * 1000:.0f} ms, max {longest * 1000:.0f} ms"
    )
    print(f"(b) {args.queued} queued one-task runs, one worker on threads --max-runs {args.max_runs}")
    print(
        f"    drained in {queued:.2f} s from the worker's start = {args.queued / queued:.0f} runs/s; "
        f"{busy:.2f} s from the first start to the last end = {args.queued / busy:.0f} runs/s"
    )
    print(
        f"    worker peak threads {drained.threads}, peak RSS {drained.rss_kib / 1024:.0f} MiB "
        f"({drained.rss_kib / args.max_runs:.0f} KiB per run driven at once)"
    )


if __name__ == "__main__":
    main()
