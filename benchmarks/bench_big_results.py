"""Large results: raw Dask against ledgerflow writing results to a file:// store.

    python benchmarks/bench_big_results.py [--small 32x8] [--large 8x128] [--repeat 3]
        [--postgres URL] [--compression zstd]

Each workload is N tasks each returning M MB (bytes) and a mapped step reading each result,
on one LocalCluster of 2 single-threaded worker processes. ledgerflow runs with
``result_storage="file://..."``: the workers write the results, the driver records only
their references and hashes, and the readers take the values from Dask memory. "raw Dask,
writing files" also pickles, hashes and writes each result to a local file in the task: the
cost of keeping the results, without any orchestration.

Each system is set up (engine, database, connections) and warmed up with the workload itself,
then measured ``--repeat`` times, the systems taking turns in an order shuffled each round
(the disk's cache and the kernel's free memory depend on what ran just before); printed side
by side: the median wall time, its ratio to raw Dask's, and the driver's memory growth (its
peak RSS, sampled every 10 ms, minus its RSS when the run starts; the largest of the
repeats), each checked against the targets: time at most 1.3x raw Dask's, memory growth at
most 1.5x raw Dask's plus 32 MB; and the CPU time the two worker processes used (median),
which other load on the machine changes less than the wall time. The objects a run wrote are
deleted after it, outside the time measured. PostgreSQL: a fresh database created on the
server and dropped after.
"""

import argparse
import hashlib
import os
import pickle
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

import psutil
from bench_core import DEFAULT_POSTGRES, fresh_postgres
from distributed import Client, LocalCluster

import ledgerflow as lf

MB = 1_000_000
TIME_TARGET = 1.3  # x raw Dask's wall time
MEMORY_TARGET = (1.5, 32.0)  # x raw Dask's driver RSS growth, plus MB


def produce(i: int, size: int) -> bytes:
    return bytes([i % 256]) * size


def read(data: bytes) -> int:
    return len(data) + data[0]


produce_task = lf.task(produce, name="produce")
read_task = lf.task(read, name="read")


@lf.flow(name="big_results")
def big_results(n: int, size: int) -> list[int]:
    return read_task.map(produce_task.map(list(range(n)), lf.unmapped(size)))


class PeakRSS:
    """The highest RSS of this process above its level at the start, sampled in a thread."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.start = self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / MB


@dataclass
class Measurement:
    workload: str
    system: str
    seconds: list[float] = field(default_factory=list)
    rss_growth_mb: list[float] = field(default_factory=list)
    worker_cpu: list[float] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu(self) -> float:
        return statistics.median(self.worker_cpu)

    @property
    def memory(self) -> float:
        return max(self.rss_growth_mb)


@dataclass
class System:
    """A system under test: what one run of a workload does, and what it leaves to clean up."""

    name: str
    run: Callable[[int, int], list[int]]
    clean: Callable[[], None]


def produce_and_write(i: int, size: int, directory: str) -> bytes:
    """``produce``, its result also pickled, hashed and written to a file (what a store costs)."""
    value = produce(i, size)
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(directory, f"{i}-{digest[:16]}"), "wb") as out:
        out.write(data)
    return value


def raw_dask(client: Client, n: int, size: int, directory: str | None = None) -> list[int]:
    if directory is None:
        produced = client.map(produce, range(n), [size] * n, pure=False)
    else:
        produced = client.map(produce_and_write, range(n), [size] * n, [directory] * n, pure=False)
    return list(client.gather(client.map(read, produced, pure=False)))


def ledgerflow_run(engine: lf.Engine, n: int, size: int) -> list[int]:
    run = engine.run(big_results, n=n, size=size)
    assert run.state == "SUCCEEDED", run
    result: list[int] = run.result()
    return result


def emptied(directory: str) -> Callable[[], None]:
    def empty() -> None:
        for entry in os.scandir(directory):
            shutil.rmtree(entry.path) if entry.is_dir() else os.unlink(entry.path)

    return empty


def systems(client: Client, stack: ExitStack, postgres_url: str, compression: str | None) -> list[System]:
    """raw Dask, raw Dask writing files, and ledgerflow on PostgreSQL and on SQLite, set up."""
    home = tempfile.mkdtemp(prefix="ledgerflow-bench-")
    stack.callback(shutil.rmtree, home, ignore_errors=True)
    written = tempfile.mkdtemp(prefix="ledgerflow-bench-raw-")
    stack.callback(shutil.rmtree, written, ignore_errors=True)
    found = [
        System("raw Dask", lambda n, size: raw_dask(client, n, size), lambda: None),
        System(
            "raw Dask, writing files", lambda n, size: raw_dask(client, n, size, written), emptied(written)
        ),
    ]
    for label, url in (("PostgreSQL", postgres_url), ("SQLite", None)):
        store = tempfile.mkdtemp(prefix="ledgerflow-bench-results-")
        stack.callback(shutil.rmtree, store, ignore_errors=True)
        engine = stack.enter_context(
            lf.Engine(url, lf.DaskExecutor(client=client), home=home, result_storage=f"file://{store}",
                      result_compression=compression)
        )  # fmt: skip
        name = f"ledgerflow, file:// store{', ' + compression if compression else ''}, {label}"
        found.append(
            System(name, lambda n, size, engine=engine: ledgerflow_run(engine, n, size), emptied(store))
        )
    return found


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User and system CPU time the processes used so far."""
    return sum(sum(process.cpu_times()[:2]) for process in processes)


def measured(
    system: System, n: int, size: int, measurement: Measurement, workers: list[psutil.Process]
) -> None:
    expected = [size + i % 256 for i in range(n)]
    cpu_before = cpu_seconds(workers)
    with PeakRSS() as rss:
        start = time.perf_counter()
        answer = system.run(n, size)
        seconds = time.perf_counter() - start
    measurement.worker_cpu.append(cpu_seconds(workers) - cpu_before)
    assert answer == expected
    system.clean()
    measurement.seconds.append(seconds)
    measurement.rss_growth_mb.append(rss.growth_mb)
    print(f"  {measurement.workload:<12} {system.name:<44} {seconds:7.2f} s  "
          f"driver RSS +{rss.growth_mb:.0f} MB", flush=True)  # fmt: skip


def parse_workload(text: str) -> tuple[int, int]:
    n, megabytes = text.lower().split("x")
    return int(n), int(megabytes)


def print_table(results: list[Measurement]) -> None:
    header = f"{'workload':<14}{'system':<46}{'wall s':>8}{'vs raw Dask':>13}{'driver RSS growth':>19}"
    print(f"\n{header}{'workers CPU s':>15}  targets")
    raw = {m.workload: m for m in results if m.system == "raw Dask"}
    for m in results:
        base = raw[m.workload]
        ratio = m.wall / base.wall
        allowed = MEMORY_TARGET[0] * base.memory + MEMORY_TARGET[1]
        checks = ""
        if m.system.startswith("ledgerflow"):
            time_check = "ok" if ratio <= TIME_TARGET else "MISSED"
            memory_check = "ok" if m.memory <= allowed else "MISSED"
            checks = f"time <= {TIME_TARGET}x: {time_check}; RSS <= {allowed:.0f} MB: {memory_check}"
        row = f"{m.workload:<14}{m.system:<46}{m.wall:>8.2f}{ratio:>12.2f}x{m.memory:>16.0f} MB"
        print(f"{row}{m.cpu:>15.2f}  {checks}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", default="32x8", help="N tasks x M MB (default 32x8)")
    parser.add_argument("--large", default="8x128", help="N tasks x M MB (default 8x128)")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs of each system (default 3)")
    parser.add_argument(
        "--postgres", default=os.environ.get("LEDGERFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server URL; a fresh database is created on it and dropped after",
    )  # fmt: skip
    parser.add_argument("--compression", default=None, help="ledgerflow's result_compression (e.g. zstd)")
    args = parser.parse_args()
    workloads = [parse_workload(args.small), parse_workload(args.large)]
    print(f"load average at the start: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    results: list[Measurement] = []
    with ExitStack() as stack:
        postgres_url, drop = fresh_postgres(args.postgres)
        stack.callback(drop)
        cluster = stack.enter_context(
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
        )
        client = stack.enter_context(Client(cluster))
        workers = [psutil.Process(pid) for pid in client.run(os.getpid).values()]
        under_test = systems(client, stack, postgres_url, args.compression)
        for n, megabytes in workloads:
            workload, size = f"{n} x {megabytes} MB", megabytes * MB
            by_system = {system.name: Measurement(workload, system.name) for system in under_test}
            for system in under_test:  # warm up: workers, connections, schema, the disk's cache
                system.run(n, size)
                system.clean()
            order = random.Random(0)
            for _ in range(args.repeat):  # what ran just before matters: a new order each round
                for system in order.sample(under_test, len(under_test)):
                    measured(system, n, size, by_system[system.name], workers)
            results += by_system.values()
    print(f"load average at the end: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    print_table(results)


if __name__ == "__main__":
    main()
