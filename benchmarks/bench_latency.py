"""Latency and throughput of ledgerflow against raw Dask, measured side by side in one run.

    python benchmarks/bench_latency.py [--repeat 3] [--postgres URL] [--rows fanout1k,chain,...]

One LocalCluster of 2 worker processes x 1 thread serves raw Dask and ledgerflow's
DaskExecutor; ledgerflow logs to a fresh PostgreSQL database. Each row of the table is
measured ``--repeat`` times (medians are printed), raw Dask and ledgerflow interleaved:

- fan-out 1,000 and 10,000 no-op tasks: raw Dask one task per item (``client.map``; 1,000
  only, 10,000 takes half a minute) and hand-batched (``client.map`` over chunks of items,
  as many and as large as ledgerflow's Dask executor makes them);
- a chain of 200 tasks: raw Dask's chained ``client.submit``;
- 100 tasks that fail twice and succeed at their third attempt: raw Dask resubmits a
  failed task from the client;
- a one-task run: a raw Dask ``submit`` + ``result`` on the same client; ledgerflow on
  Dask and on threads;
- 10,000 no-op tasks on threads with the PostgreSQL log (no raw counterpart).

It also prints the log's floor: rows/s written by COPY into a table like the events table;
and, for the chain and the one-task run, the floor of any engine that records an attempt's
start durably before its body runs and its end before the next depends on it ("raw Dask +
commits"): raw Dask driven from the client link by link, with one PostgreSQL commit of the
rows ledgerflow writes there (a link's start with its upstream's end; a one-task run's start,
then its end), into a table like the events table.
"""

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from bench_core import DEFAULT_POSTGRES, chain, fanout, fresh_postgres, inc, noop, raw_chain, raw_fanout
from distributed import Client, LocalCluster, as_completed, wait

import ledgerflow as lf

ROWS = ("fanout1k", "fanout10k", "chain", "retries", "one", "threads10k")
CHUNK_CAP, CHUNKS_PER_THREAD, THREADS = 200, 4, 2  # hand-batched raw Dask: as ledgerflow chunks a map
COPY_ROWS = 20_000


def flaky_body(x: int, attempt: int) -> int:
    if attempt < 3:
        raise OSError(f"attempt {attempt} of {x} fails")
    return x


@lf.task(retries=2, retry_delay=0.0)
def flaky(x: int) -> int:
    return flaky_body(x, lf.context().attempt)


@lf.flow(name="retries")
def retries(n: int) -> None:
    flaky.map(list(range(n)))


@lf.flow(name="one")
def one(n: int) -> Any:
    return inc(n)


def run_chunk(items: Sequence[int]) -> list[None]:
    return [noop.fn(x) for x in items]


def raw_batched(client: Client, n: int) -> float:
    """A fan-out of ``n`` no-ops, chunked as ledgerflow's Dask executor chunks a map: at most
    ``CHUNK_CAP`` items a Dask task, at least ``CHUNKS_PER_THREAD`` Dask tasks a worker thread."""
    start = time.perf_counter()
    size = min(CHUNK_CAP, -(-n // (CHUNKS_PER_THREAD * THREADS)))
    futures = client.map(run_chunk, [list(range(i, min(n, i + size))) for i in range(0, n, size)], pure=False)
    wait(futures)
    elapsed = time.perf_counter() - start
    client.cancel(futures)
    return elapsed


def raw_retries(client: Client, n: int) -> float:
    """``n`` tasks failing twice each, resubmitted by the client until their third attempt."""
    start = time.perf_counter()
    calls: dict[str, tuple[int, int]] = {}  # Dask key -> (item, attempt)

    def submit(x: int, attempt: int) -> Any:
        future = client.submit(flaky_body, x, attempt, pure=False)
        calls[future.key] = (x, attempt)
        return future

    pending = as_completed([submit(x, 1) for x in range(n)])
    for future in pending:
        if future.status == "error":
            x, attempt = calls[future.key]
            pending.add(submit(x, attempt + 1))
    return time.perf_counter() - start


def raw_one(client: Client) -> float:
    start = time.perf_counter()
    assert client.submit(inc.fn, 1, pure=False).result() == 2
    return time.perf_counter() - start


def connect(url: str) -> Any:
    """A psycopg connection to the database of the SQLAlchemy ``url``."""
    import psycopg

    conninfo = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(conninfo)


class Commits:
    """Durable records on PostgreSQL as a log writes them: each ``record(rows)`` inserts that
    many event-like rows and commits (a table like the events table, dropped on close)."""

    PAYLOAD = '{"attempt":1,"started_at":"2025-01-01T00:00:00+00:00","result":{"inline":1}}'

    def __init__(self, url: str) -> None:
        self.connection = connect(url)
        self.connection.execute("CREATE TABLE IF NOT EXISTS floor_log (LIKE events INCLUDING ALL)")
        self.connection.commit()
        self.run, self.seq = 0, 0

    def new_run(self) -> None:
        self.run, self.seq = self.run + 1, 0

    def record(self, rows: int) -> None:
        values = []
        for _ in range(rows):
            self.seq += 1
            values.append((f"floor-{self.run}", self.seq, "inc", "task.succeeded", self.PAYLOAD,
                           "2025-01-01T00:00:00+00:00", "0" * 64, "f" * 64))  # fmt: skip
        with self.connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO floor_log (run_id, seq, task_key, type, payload, ts, prev_hash, hash)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                values,
            )
        self.connection.commit()

    def close(self) -> None:
        self.connection.execute("DROP TABLE floor_log")
        self.connection.commit()
        self.connection.close()


def floor_chain(client: Client, commits: Commits, n: int) -> float:
    """A chain driven from the client: each link's start is committed (with its upstream's end)
    before it is submitted, and its result awaited before the next: the guarantees' floor."""
    commits.new_run()
    start = time.perf_counter()
    value = 0
    for _ in range(n):
        commits.record(2)
        value = client.submit(inc.fn, value, pure=False).result()
    commits.record(2)
    assert value == n
    return time.perf_counter() - start


def floor_one(client: Client, commits: Commits) -> float:
    """A one-task run's floor: its first commit (run created and started, the task started),
    raw Dask's submit + result, then the commit of its end."""
    commits.new_run()
    start = time.perf_counter()
    commits.record(3)
    assert client.submit(inc.fn, 1, pure=False).result() == 2
    commits.record(2)
    return time.perf_counter() - start


@dataclass
class Row:
    """One row of the table: timings in seconds per system, a per-task divisor."""

    name: str
    tasks: int
    unit: str  # "ms/task", "ms/link", "s", "ms"
    times: dict[str, list[float]] = field(default_factory=dict)
    rows_per_task: float | None = None

    def add(self, system: str, seconds: float) -> None:
        self.times.setdefault(system, []).append(seconds)

    def median(self, system: str) -> float | None:
        values = self.times.get(system)
        return statistics.median(values) if values else None

    def shown(self, seconds: float | None) -> str:
        if seconds is None:
            return "-"
        if self.unit in ("ms/task", "ms/link"):
            return f"{seconds * 1000 / self.tasks:.3f} {self.unit}"
        if self.unit == "ms":
            return f"{seconds * 1000:.1f} ms"
        return f"{seconds:.2f} s"


def timed_engine_run(engine: lf.Engine, flow: lf.Flow[..., Any], n: int) -> tuple[float, int]:
    start = time.perf_counter()
    run = engine.run(flow, n=n)
    elapsed = time.perf_counter() - start
    assert run.state == "SUCCEEDED", run
    return elapsed, len(engine.events(run.id))


def copy_floor(url: str, rows: int = COPY_ROWS) -> float:
    """Rows/s written by COPY (one transaction) into a table like the events table."""
    payload = '{"attempt":1,"duration":0.000113,"result":{"inline":null}}'
    data = [
        ("run-copy-floor", seq, f"noop[{seq}]", "task.succeeded", payload, "2025-01-01T00:00:00+00:00",
         "0" * 64, "f" * 64)
        for seq in range(1, rows + 1)
    ]  # fmt: skip
    with connect(url) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS copy_floor (LIKE events INCLUDING ALL)")
        connection.commit()
        start = time.perf_counter()
        with connection.cursor() as cursor, cursor.copy(
            "COPY copy_floor (run_id, seq, task_key, type, payload, ts, prev_hash, hash) FROM STDIN"
        ) as copy:
            for row in data:
                copy.write_row(row)
        connection.commit()
        elapsed = time.perf_counter() - start
        connection.execute("DROP TABLE copy_floor")
        connection.commit()
    return rows / elapsed


def measure(
    rows: dict[str, Row], wanted: Sequence[str], client: Client, dask_engine: lf.Engine,
    threads_engine: lf.Engine, commits: Commits,
) -> None:  # fmt: skip
    """One repeat of every wanted row, raw Dask and ledgerflow back to back."""
    plans: dict[str, list[tuple[str, Callable[[], tuple[float, int | None]]]]] = {
        "fanout1k": [
            ("raw Dask", lambda: (raw_fanout(client, 1000), None)),
            ("raw Dask batched", lambda: (raw_batched(client, 1000), None)),
            ("ledgerflow Dask+PG", lambda: timed_engine_run(dask_engine, fanout, 1000)),
        ],
        "fanout10k": [
            ("raw Dask batched", lambda: (raw_batched(client, 10_000), None)),
            ("ledgerflow Dask+PG", lambda: timed_engine_run(dask_engine, fanout, 10_000)),
        ],
        "chain": [
            ("raw Dask", lambda: (raw_chain(client, 200), None)),
            ("raw Dask + commits", lambda: (floor_chain(client, commits, 200), None)),
            ("ledgerflow Dask+PG", lambda: timed_engine_run(dask_engine, chain, 200)),
        ],
        "retries": [
            ("raw Dask", lambda: (raw_retries(client, 100), None)),
            ("ledgerflow Dask+PG", lambda: timed_engine_run(dask_engine, retries, 100)),
        ],
        "one": [
            ("raw Dask", lambda: (statistics.median(raw_one(client) for _ in range(5)), None)),
            ("raw Dask + commits", lambda: (_median(lambda: floor_one(client, commits), 5), None)),
            ("ledgerflow Dask+PG", lambda: _median_run(dask_engine, one, 5)),
            ("ledgerflow threads+PG", lambda: _median_run(threads_engine, one, 5)),
        ],
        "threads10k": [
            ("ledgerflow threads+PG", lambda: timed_engine_run(threads_engine, fanout, 10_000)),
        ],
    }
    for name in wanted:
        row = rows[name]
        for system, action in plans[name]:
            seconds, events = action()
            row.add(system, seconds)
            if events is not None and name != "one":
                row.rows_per_task = events / row.tasks
            print(f"  {name:<11}{system:<24}{row.shown(seconds):>18}", flush=True)


def _median(action: Callable[[], float], times: int) -> float:
    return statistics.median(action() for _ in range(times))


def _median_run(engine: lf.Engine, flow: lf.Flow[..., Any], times: int) -> tuple[float, int]:
    timings = [timed_engine_run(engine, flow, n) for n in range(times)]
    return statistics.median(seconds for seconds, _ in timings), timings[0][1]


def report(rows: dict[str, Row], wanted: Sequence[str], floor: float) -> None:
    """The table: medians per system, ratios of ledgerflow to raw Dask of the same run."""
    labels = {
        "fanout1k": "fan-out 1,000 no-op", "fanout10k": "fan-out 10,000",
        "chain": "chain of 200", "retries": "100 tasks x 3 attempts",
        "one": "a one-task run", "threads10k": "threads+PG, 10,000 no-op",
    }  # fmt: skip
    print(f"\nthe log's COPY floor: {floor:,.0f} rows/s ({2e6 / floor:.1f} µs per task at 2 rows a task)")
    header = ("workload", "raw Dask", "raw batched", "raw Dask + commits", "ledgerflow Dask+PG",
              "ledgerflow threads+PG", "rows/task", "ratio")  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in wanted:
        row = rows[name]
        raw, batched = row.median("raw Dask"), row.median("raw Dask batched")
        floor_run = row.median("raw Dask + commits")
        dask, threads = row.median("ledgerflow Dask+PG"), row.median("ledgerflow threads+PG")
        ratios = []
        if dask is not None and raw is not None:
            ratios.append(f"{dask / raw:.2f}x raw Dask")
        if dask is not None and batched is not None:
            ratios.append(f"{dask / batched:.2f}x batched")
        if dask is not None and floor_run is not None and raw is not None:
            ratios.append(f"floor {floor_run / raw:.2f}x raw Dask; {dask / floor_run:.2f}x the floor")
        if name == "fanout10k" and dask is not None and batched is not None:
            bound = 2 * batched + 2 * row.tasks / floor
            ratios.append(f"{dask / bound:.2f}x (2x batched + COPY floor)")
        if name == "one" and threads is not None:
            ratios.append(f"threads {threads * 1000:.1f} ms")
        if name == "threads10k" and threads is not None:
            ratios.append(f"{row.tasks / threads:,.0f} tasks/s")
        per_task = "-" if row.rows_per_task is None else f"{row.rows_per_task:.2f}"
        cells = (labels[name], row.shown(raw), row.shown(batched), row.shown(floor_run), row.shown(dask),
                 row.shown(threads), per_task, "; ".join(ratios) or "-")  # fmt: skip
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"which rows, of {', '.join(ROWS)}")
    parser.add_argument(
        "--postgres", default=os.environ.get("LEDGERFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server URL; a fresh database is created on it and dropped after",
    )
    args = parser.parse_args()
    wanted = [name for name in args.rows.split(",") if name]
    if unknown := set(wanted) - set(ROWS):
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    rows = {
        "fanout1k": Row("fanout1k", 1000, "ms/task"), "fanout10k": Row("fanout10k", 10_000, "s"),
        "chain": Row("chain", 200, "ms/link"), "retries": Row("retries", 100, "s"),
        "one": Row("one", 1, "ms"), "threads10k": Row("threads10k", 10_000, "ms/task"),
    }  # fmt: skip
    postgres_url, drop = fresh_postgres(args.postgres)
    home = tempfile.mkdtemp(prefix="ledgerflow-bench-")
    try:
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                         silence_logs=logging.CRITICAL) as cluster,
            Client(cluster) as client,
            lf.Engine(postgres_url, lf.DaskExecutor(client=client), home=home) as dask_engine,
            lf.Engine(postgres_url, "threads", home=home) as threads_engine,
        ):
            commits = Commits(postgres_url)
            raw_fanout(client, 100)  # warm up: imports, connections, schema
            raw_chain(client, 10)
            raw_batched(client, 100)
            raw_retries(client, 4)
            timed_engine_run(dask_engine, fanout, 20)
            timed_engine_run(threads_engine, fanout, 20)
            for repeat in range(args.repeat):
                print(f"repeat {repeat + 1} of {args.repeat}", flush=True)
                measure(rows, wanted, client, dask_engine, threads_engine, commits)
            commits.close()
            floor = statistics.median(copy_floor(postgres_url) for _ in range(3))
    finally:
        drop()
    report(rows, wanted, floor)


if __name__ == "__main__":
    main()
