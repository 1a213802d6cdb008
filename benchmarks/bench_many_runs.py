"""Many runs drained by ONE ledgerflow worker process against raw Dask on one LocalCluster.

    python benchmarks/bench_many_runs.py [--runs 200] [--steps 4] [--seconds 0.05]
                                         [--queued 2000] [--max-runs 200] [--postgres URL]

(a) RUNS submitted runs, each a chain of STEPS tasks sleeping SECONDS, on a LocalCluster
with 8 threads (2 worker processes x 4): raw Dask submits the same chains at once (chained
``client.submit``); ledgerflow submits the runs to a fresh PostgreSQL database, then one
``ledgerflow worker --dask-address ... --max-runs MAX_RUNS`` process drains them. Wall time
from the first submission to the last run's end, and the ratio to raw Dask from this run.
(b) QUEUED one-task runs, submitted before the worker starts, drained by one worker on
threads: runs per second, and the worker's peak threads and peak RSS (read from /proc).
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

from bench_core import DEFAULT_POSTGRES, fresh_postgres
from distributed import Client, LocalCluster

import ledgerflow as lf

HERE = Path(__file__).resolve()


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
    database: str, home: str, max_runs: int, dask_address: str | None
) -> subprocess.Popen[bytes]:
    """One ``ledgerflow worker`` process (the console script next to this Python)."""
    script = Path(sys.executable).parent / "ledgerflow"
    args = [
        str(script), "worker", "--database", database, "--max-runs", str(max_runs),
        "--poll", "0.05", "--no-schedules",
    ]  # fmt: skip
    if dask_address is not None:
        args += ["--dask-address", dask_address]
    env = {**os.environ, "LEDGERFLOW_HOME": home}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ended(engine: lf.Engine, runs: int, timeout: float = 600) -> None:
    """Wait until every run of the (fresh) database has ended (polls the read model's counts)."""
    deadline = time.monotonic() + timeout
    ended = 0
    while time.monotonic() < deadline:
        counts = engine.run_counts()
        ended = sum(counts.get(state, 0) for state in ("SUCCEEDED", "FAILED", "CANCELLED"))
        if ended >= runs:
            return
        time.sleep(0.02)
    raise TimeoutError(f"{runs - ended} runs did not end within {timeout} s")


def drain(
    database: str, home: str, flow: lf.Flow[..., Any], params: list[dict[str, Any]], max_runs: int,
    dask_address: str | None,
) -> tuple[float, Sampler, lf.Engine]:  # fmt: skip
    """Submit the runs, start one worker, wait for every run's end; wall seconds and the sampler."""
    engine = lf.Engine(database, home=home)
    start = time.perf_counter()
    run_ids = [engine.submit(flow, **p) for p in params]
    worker = start_worker(database, home, max_runs, dask_address)
    sampler = Sampler(worker.pid)
    try:
        wait_ended(engine, len(run_ids))
        elapsed = time.perf_counter() - start
    finally:
        sampler.stop()
        worker.terminate()
        worker.wait(60)
    states = {engine.get_run(r).state for r in run_ids}
    assert states == {"SUCCEEDED"}, states
    return elapsed, sampler, engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=0.05)
    parser.add_argument("--queued", type=int, default=2000)
    parser.add_argument("--max-runs", type=int, default=200)
    parser.add_argument(
        "--postgres", default=os.environ.get("LEDGERFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server URL; fresh databases are created on it and dropped after",
    )
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="ledgerflow-bench-")
    chains = [{"steps": args.steps, "seconds": args.seconds}] * args.runs
    with LocalCluster(n_workers=2, threads_per_worker=4, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            raw_chains(client, 8, args.steps, 0.0)  # warm up
            raw = raw_chains(client, args.runs, args.steps, args.seconds)
        database, drop = fresh_postgres(args.postgres)
        try:
            address = cluster.scheduler_address
            ours, sampler, engine = drain(database, home, experiment, chains, args.max_runs, address)
            engine.close()
        finally:
            drop()
    database, drop = fresh_postgres(args.postgres)
    try:
        queued, queued_sampler, engine = drain(
            database, home, one_task, [{"x": i} for i in range(args.queued)], args.max_runs, None
        )
        engine.close()
    finally:
        drop()
    work = args.runs * args.steps * args.seconds
    print(f"(a) {args.runs} runs x a chain of {args.steps} steps of {args.seconds * 1000:g} ms "
          f"({work:.1f} s of work) on 8 Dask threads, one worker --max-runs {args.max_runs}, PostgreSQL")
    print(f"    raw Dask (chained submit)      {raw:8.2f} s")
    print(f"    ledgerflow, one worker         {ours:8.2f} s   {ours / raw:.2f}x raw Dask")
    print(f"    worker peak threads {sampler.threads}, peak RSS {sampler.rss_kib / 1024:.0f} MiB")
    print(f"(b) {args.queued} queued one-task runs, one worker on threads "
          f"--max-runs {args.max_runs}, PostgreSQL")
    print(f"    drained in {queued:.2f} s = {args.queued / queued:.0f} runs/s; worker peak threads "
          f"{queued_sampler.threads}, peak RSS {queued_sampler.rss_kib / 1024:.0f} MiB "
          f"({queued_sampler.rss_kib / args.max_runs:.0f} KiB per run driven at once)")


if __name__ == "__main__":
    main()
