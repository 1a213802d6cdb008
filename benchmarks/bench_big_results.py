"""Large results: raw Dask against ledgerflow writing results to a file:// store.

    python benchmarks/bench_big_results.py [--small 32x8] [--large 8x128] [--postgres URL]

Each workload is N tasks each returning M MB (bytes) and a mapped step reading each
result, on one LocalCluster of 2 single-threaded worker processes. ledgerflow runs with
``result_storage="file://..."``: the workers write the results, the driver records only
their references and hashes, and the readers take the values from Dask memory. Printed
side by side: wall time, ratio to raw Dask, and the driver's RSS growth during the run
(sampled every 10 ms). "raw Dask, writing files" also pickles, hashes and writes each result
to a local file in the task: the cost of keeping the results, without any orchestration.
PostgreSQL: a fresh database created on the server and dropped after.
"""

import argparse
import hashlib
import os
import pickle
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

import psutil
from bench_core import DEFAULT_POSTGRES, fresh_postgres
from distributed import Client, LocalCluster

import ledgerflow as lf

MB = 1_000_000


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
    seconds: float
    rss_growth_mb: float


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


def measured(workload: str, system: str, work: Any, *args: Any) -> tuple[Measurement, Any]:
    with PeakRSS() as rss:
        start = time.perf_counter()
        answer = work(*args)
        seconds = time.perf_counter() - start
    print(f"  {workload:<12} {system:<36} {seconds:7.2f} s  driver RSS +{rss.growth_mb:.0f} MB", flush=True)
    return Measurement(workload, system, seconds, rss.growth_mb), answer


def parse_workload(text: str) -> tuple[int, int]:
    n, megabytes = text.lower().split("x")
    return int(n), int(megabytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", default="32x8", help="N tasks x M MB (default 32x8)")
    parser.add_argument("--large", default="8x128", help="N tasks x M MB (default 8x128)")
    parser.add_argument(
        "--postgres", default=os.environ.get("LEDGERFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server URL; a fresh database is created on it and dropped after",
    )  # fmt: skip
    args = parser.parse_args()
    workloads = [parse_workload(args.small), parse_workload(args.large)]
    postgres_url, drop = fresh_postgres(args.postgres)
    home = tempfile.mkdtemp(prefix="ledgerflow-bench-")
    results: list[Measurement] = []
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:  # fmt: skip
            raw_dask(client, 2, 1000)  # warm up the workers
            for n, megabytes in workloads:
                workload, size = f"{n} x {megabytes} MB", megabytes * MB
                expected = [size + i % 256 for i in range(n)]
                measurement, answer = measured(workload, "raw Dask", raw_dask, client, n, size)
                results.append(measurement)
                assert answer == expected
                written = tempfile.mkdtemp(prefix="ledgerflow-bench-raw-")
                system = "raw Dask, writing files"
                measurement, answer = measured(workload, system, raw_dask, client, n, size, written)
                results.append(measurement)
                shutil.rmtree(written)
                for label, url in (("PostgreSQL", postgres_url), ("SQLite", None)):
                    store = tempfile.mkdtemp(prefix="ledgerflow-bench-results-")
                    with lf.Engine(url, lf.DaskExecutor(client=client), home=home,
                                   result_storage=f"file://{store}") as engine:  # fmt: skip
                        ledgerflow_run(engine, 2, 1000)  # warm up: schema, connections
                        system = f"ledgerflow, file:// store, {label}"
                        measurement, answer = measured(workload, system, ledgerflow_run, engine, n, size)
                        results.append(measurement)
                        assert answer == expected
                    shutil.rmtree(store)
    finally:
        drop()
        shutil.rmtree(home, ignore_errors=True)
    print(f"\n{'workload':<14}{'system':<38}{'wall s':>8}{'vs raw Dask':>13}{'driver RSS growth':>19}")
    raw = {m.workload: m.seconds for m in results if m.system == "raw Dask"}
    for m in results:
        print(f"{m.workload:<14}{m.system:<38}{m.seconds:>8.2f}{m.seconds / raw[m.workload]:>12.2f}x"
              f"{m.rss_growth_mb:>16.0f} MB")


if __name__ == "__main__":
    main()
