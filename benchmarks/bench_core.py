"""Fan-out and chain: ledgerflow against raw Dask, measured side by side in one process.

    python benchmarks/bench_core.py [--fanout 10000] [--chain 200] [--postgres URL] [--metrics] [--tracing]

Runs (a) a fan-out of FANOUT no-op mapped tasks and (b) a chain of CHAIN tasks on:
raw Dask (``client.map`` / chained ``client.submit``) on a LocalCluster with two worker
processes, ledgerflow with a DaskExecutor on that same cluster and a PostgreSQL log,
and ledgerflow with threads on PostgreSQL and on SQLite. Prints wall time, tasks/s,
events written and the ratio to raw Dask measured in the same run. With ``--metrics``, each
ledgerflow workload also runs with the engine's log metered for Prometheus (rows
"+metrics", measured right after the plain ones on the same engine), and the cost of
metrics is printed per system and workload. With ``--tracing``, likewise with OpenTelemetry
tracing on (rows "+tracing": an SDK tracer provider, spans batched to an exporter that drops
them), against tracing off (no provider: what ledgerflow does without ``ledgerflow[otel]``
configured), and the in-process cost of deciding, per drive, that tracing is off.
"""

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from distributed import Client, LocalCluster, wait
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.util._once import Once
from prometheus_client import CollectorRegistry

import ledgerflow as lf
from ledgerflow.engine.core.events import Event
from ledgerflow.engine.event_meter import EventMeter
from ledgerflow.engine.metered_log import MeteredLog
from ledgerflow.engine.metrics import ProcessMetrics, meter, metrics_registry
from ledgerflow.engine.spans import tracing
from ledgerflow.executors.span_context import body_context

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@lf.task
def noop(x: int) -> None:
    return None


@lf.task
def inc(x: int) -> int:
    return x + 1


@lf.flow(name="fanout")
def fanout(n: int) -> None:
    noop.map(list(range(n)))


@lf.flow(name="chain")
def chain(n: int) -> Any:
    value = inc(0)
    for _ in range(n - 1):
        value = inc(value)
    return value


@dataclass
class Measurement:
    scenario: str
    system: str
    tasks: int
    seconds: float
    events: int | None = None

    @property
    def per_second(self) -> float:
        return self.tasks / self.seconds


def raw_fanout(client: Client, n: int) -> float:
    start = time.perf_counter()
    futures = client.map(noop.fn, range(n), pure=False)
    wait(futures)
    elapsed = time.perf_counter() - start
    client.cancel(futures)
    return elapsed


def raw_chain(client: Client, n: int) -> float:
    start = time.perf_counter()
    future = client.submit(inc.fn, 0, pure=False)
    for _ in range(n - 1):
        future = client.submit(inc.fn, future, pure=False)
    assert future.result() == n
    return time.perf_counter() - start


def timed_run(engine: lf.Engine, flow: lf.Flow[..., Any], n: int) -> tuple[float, int]:
    start = time.perf_counter()
    run = engine.run(flow, n=n)
    elapsed = time.perf_counter() - start
    assert run.state == "SUCCEEDED", run
    return elapsed, len(engine.events(run.id))


def fresh_postgres(server_url: str) -> tuple[str, Callable[[], None]]:
    """Create an empty database on the server; returns its URL and a function dropping it."""
    server = sa.make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"lf_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop


class _Dropped(SpanExporter):
    """An exporter that drops what it is given (the cost measured is ledgerflow's and the SDK's)."""

    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def set_tracing(provider: TracerProvider | None) -> None:
    """The process's global tracer provider (None: none, tracing off). The API sets one only
    once per process: its globals are put back first, as OpenTelemetry's test utilities do."""
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    if provider is not None:
        trace.set_tracer_provider(provider)


def measure_engine(
    label: str, engine: lf.Engine, sizes: dict[str, int], results: list[Measurement],
    metrics: bool = False, repeat: int = 1, traced: TracerProvider | None = None,
) -> None:  # fmt: skip
    """Each workload on ``engine`` (the median of ``repeat`` runs); with ``metrics``, each also
    with the engine's log metered, with ``traced`` (a provider) each also traced; the plain,
    metered and traced runs alternating."""
    plain = engine.storage
    kinds: list[tuple[str, Any, TracerProvider | None]] = [(label, plain, None)]
    if metrics:
        meter(engine, metrics_registry(engine.storage))
        kinds.append((f"{label} +metrics", engine.storage, None))
    if traced is not None:
        kinds.append((f"{label} +tracing", plain, traced))
    for _, storage, provider in kinds:  # warm up: imports, connections, schema, each path
        engine.storage = storage
        set_tracing(provider)
        timed_run(engine, fanout, 20)
    for scenario, flow in (("fan-out", fanout), ("chain", chain)):
        timings: dict[str, list[tuple[float, int]]] = {system: [] for system, _, _ in kinds}
        for round_ in range(repeat):
            for system, storage, provider in kinds if round_ % 2 == 0 else kinds[::-1]:
                engine.storage = storage
                set_tracing(provider)
                timings[system].append(timed_run(engine, flow, sizes[scenario]))
                print(f"  {system:<38} {scenario:<8} {timings[system][-1][0]:8.2f} s", flush=True)
        for system, timed in timings.items():
            seconds = statistics.median(seconds for seconds, _ in timed)
            results.append(Measurement(scenario, system, sizes[scenario], seconds, timed[0][1]))
    engine.storage = plain
    set_tracing(None)


def untraced_cost(rounds: int = 7, calls: int = 100_000) -> dict[str, tuple[float, float]]:
    """Microseconds of what an untraced run does for tracing, in process, best and median of
    ``rounds``: a drive decides that tracing is off (no provider set); a body runs in the
    context of an invocation that carries none (besides, a None check per batch of attempts)."""
    set_tracing(None)

    def per_drive() -> None:
        tracing()

    def per_body() -> None:
        with body_context(None):
            pass

    costs: dict[str, tuple[float, float]] = {}
    works = (("per drive: is tracing on?", per_drive), ("per attempt: its body's context", per_body))
    for name, work in works:
        timings = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(calls):
                work()
            timings.append((time.perf_counter() - start) / calls * 1e6)
        costs[name] = (min(timings), statistics.median(timings))
    return costs


def meter_cost(tasks: int = 10_000, rounds: int = 7) -> tuple[float, float]:
    """Microseconds the metered log adds per event appended, in process (no database), best and
    median of ``rounds``: the meter's work on a run of ``tasks`` tasks' task.running and
    task.succeeded events, in batches of 500, plus timing each batch."""
    now = datetime.now(UTC)
    nodes = [{"key": f"noop[{i}]", "task": "noop"} for i in range(tasks)]
    created = Event("r", 1, None, "run.created", {"flow": "fanout", "graph": {"nodes": nodes}}, now, "", "")
    events = [created, Event("r", 2, None, "run.running", {"owner": "me"}, now, "", "")]
    for i in range(tasks):
        key = f"noop[{i}]"
        succeeded = {"attempt": 1, "duration": 0.0001}
        events.append(Event("r", 3 + 2 * i, key, "task.running", {"attempt": 1}, now, "", ""))
        events.append(Event("r", 4 + 2 * i, key, "task.succeeded", succeeded, now, "", ""))
    costs = []
    for _ in range(rounds):
        log = MeteredLog(_Replay(events), EventMeter(ProcessMetrics(CollectorRegistry())))
        start = time.perf_counter()
        for first in range(0, len(events), 500):
            log.append("r", first, [])
        costs.append((time.perf_counter() - start) / len(events) * 1e6)
    return min(costs), statistics.median(costs)


class _Replay:
    """A log whose appends give back the next recorded events (for ``meter_cost``)."""

    def __init__(self, events: list[Event]) -> None:
        self._events = events

    def append(
        self, run_id: str, expected_seq: int, events: Any, owner: str | None = None,
        lease_ttl: float | None = None,
    ) -> list[Event]:  # fmt: skip
        return self._events[expected_seq:expected_seq + 500]


def report(results: list[Measurement]) -> None:
    raw = {m.scenario: m for m in results if m.system == "raw Dask"}
    print()
    print(f"{'scenario':<9}{'system':<40}{'tasks':>7}{'wall s':>9}{'tasks/s':>10}"
          f"{'events':>9}{'rows/task':>10}{'vs raw Dask':>13}")
    for m in results:
        base = raw.get(m.scenario)
        ratio = f"{m.seconds / base.seconds:.2f}x" if base else "-"
        rows = f"{m.events / m.tasks:.2f}" if m.events else "-"
        events = str(m.events) if m.events is not None else "-"
        print(f"{m.scenario:<9}{m.system:<40}{m.tasks:>7}{m.seconds:>9.2f}{m.per_second:>10.0f}"
              f"{events:>9}{rows:>10}{ratio:>13}")
    plain = {(m.scenario, m.system): m for m in results}
    for suffix, what in ((" +metrics", "metrics (metered"), (" +tracing", "tracing (traced")):
        costs = [(m, plain[(m.scenario, m.system.removesuffix(suffix))])
                 for m in results if m.system.endswith(suffix)]
        if costs:
            print(f"\ncost of {what} against plain, same engine, measured one after the other):")
        for measured, base in costs:
            extra = (measured.seconds - base.seconds) / base.tasks * 1e6
            print(f"  {base.system:<38} {base.scenario:<8} {measured.seconds / base.seconds - 1:+7.1%}"
                  f" ({extra:+.1f} µs per task)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fanout", type=int, default=10_000)
    parser.add_argument("--chain", type=int, default=200)
    parser.add_argument(
        "--postgres", default=os.environ.get("LEDGERFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server URL; a fresh database is created on it and dropped after",
    )
    parser.add_argument("--metrics", action="store_true",
                        help="also measure each ledgerflow workload with its log metered for Prometheus")
    parser.add_argument("--tracing", action="store_true",
                        help="also measure each ledgerflow workload with OpenTelemetry tracing on")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each ledgerflow workload (the median)")
    args = parser.parse_args()
    sizes = {"fan-out": args.fanout, "chain": args.chain}
    provider = None
    if args.tracing:
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(_Dropped()))
    metered = (args.metrics, args.repeat, provider)
    results: list[Measurement] = []
    postgres_url, drop = fresh_postgres(args.postgres)
    home = tempfile.mkdtemp(prefix="ledgerflow-bench-")
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            raw_fanout(client, 100)
            raw_chain(client, 10)
            results.append(Measurement("fan-out", "raw Dask", args.fanout,
                                       raw_fanout(client, args.fanout)))
            results.append(Measurement("chain", "raw Dask", args.chain,
                                       raw_chain(client, args.chain)))
            with lf.Engine(postgres_url, lf.DaskExecutor(client=client), home=home) as engine:
                measure_engine("ledgerflow Dask+PostgreSQL", engine, sizes, results, *metered)
        with lf.Engine(postgres_url, "threads", home=home) as engine:
            measure_engine("ledgerflow threads+PostgreSQL", engine, sizes, results, *metered)
        with lf.Engine(None, "threads", home=home) as engine:
            measure_engine("ledgerflow threads+SQLite", engine, sizes, results, *metered)
    finally:
        drop()
    report(results)
    if args.metrics:
        best, median = meter_cost()
        print(f"\nthe metered log's own work per event appended (in process, no database): "
              f"{best:.2f} µs best, {median:.2f} µs median")
    if args.tracing:
        print("\nwhat tracing costs a run while it is off (in process; the loop's own cost included):")
        for name, (best, median) in untraced_cost().items():
            print(f"  {name:<34} {best:.3f} µs best, {median:.3f} µs median")


if __name__ == "__main__":
    main()
