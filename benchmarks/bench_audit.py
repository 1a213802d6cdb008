"""Audit speed: verify, export and offline-verify a run of 100,000 events.

    python benchmarks/bench_audit.py [--events 100000] [--repeat 5] [--database SERVER_URL]

Writes one run of EVENTS events with the storage log in batches of 10,000 (a run.created
with the graph of a fan-out, then task.running and task.succeeded of each mapped task,
each event with its own timestamp, as a driver records them), into a temporary SQLite
database and, with --database, into a fresh database created on that PostgreSQL server
(dropped after). Then times, REPEAT times each, ``verify_run`` (re-hash the chain as
stored), a signed export to a file, and the offline verification of that export with
its signature; prints the best and median events/s. Target: verification >= 200,000
events/s.
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_core import fresh_postgres

import ledgerflow as lf
from ledgerflow.engine.api import ENGINE_VERSION
from ledgerflow.engine.core.events import NewEvent
from ledgerflow.engine.home import new_run_id
from ledgerflow.replay import export_run, verify_export, verify_run
from ledgerflow.storage import Storage, open_storage

BATCH = 10_000
KEY = b"benchmark key"


@lf.task
def work(x: int) -> int:
    return x


@lf.flow(name="audit_fanout")
def fanout(n: int) -> None:
    work.map(list(range(n)))


def build_run(storage: Storage, events: int) -> str:
    """A finished-looking run of ``events`` events; returns its id."""
    tasks = (events - 1) // 2
    bound = fanout.bind({"n": tasks})
    graph = fanout.trace(bound).graph
    start = datetime.now(UTC)
    run_id = new_run_id(start)
    created = NewEvent(None, "run.created", {
        "flow": fanout.name, "flow_ref": fanout.ref, "parameters": bound, "graph": graph.to_dict(),
        "graph_hash": graph.digest(), "state": "PENDING", "engine_version": ENGINE_VERSION,
    }, start)  # fmt: skip
    seq = storage.log.append(run_id, 0, [created])[-1].seq
    batch: list[NewEvent] = []
    for i, key in enumerate(graph.nodes):
        ts = start + timedelta(microseconds=2 * i + 1)
        batch.append(NewEvent(key, "task.running", {"attempt": 1}, ts))
        batch.append(NewEvent(key, "task.succeeded", {
            "attempt": 1, "duration": 0.000113, "result": {"inline": i},
        }, ts + timedelta(microseconds=1)))  # fmt: skip
        if len(batch) >= BATCH:
            seq = storage.log.append(run_id, seq, batch)[-1].seq
            batch = []
    if batch:
        seq = storage.log.append(run_id, seq, batch)[-1].seq
    assert seq == 1 + 2 * tasks, seq
    return run_id


def timed(repeat: int, action: Callable[[], int]) -> tuple[float, float, int]:
    """Best and median seconds of ``repeat`` calls of ``action``, and what it returned."""
    action()  # warm up: caches, connections
    seconds, count = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = action()
        seconds.append(time.perf_counter() - start)
    return min(seconds), statistics.median(seconds), count


def measure(label: str, url: str, home: Path, events: int, repeat: int) -> None:
    with open_storage(url, home) as storage:
        start = time.perf_counter()
        run_id = build_run(storage, events)
        print(f"{label}: wrote {events:,} events in {time.perf_counter() - start:.1f} s", flush=True)
        path = home / f"{label}.jsonl"

        def verify() -> int:
            report = verify_run(storage, run_id)
            assert report.ok, report
            return report.events_checked

        def export() -> int:
            summary = export_run(storage, run_id, path, exported_by="bench", key=KEY)
            return summary.events

        def offline() -> int:
            report = verify_export(path, key=KEY)
            assert report.ok, report
            return report.chain.events_checked

        for name, action in (("verify", verify), ("export", export), ("offline verify", offline)):
            best, median, count = timed(repeat, action)
            assert count == events, (name, count)
            print(f"  {label:<11}{name:<16}{count / best:>12,.0f} events/s best"
                  f"{count / median:>12,.0f} median  ({best:.3f} s best)", flush=True)
        size = path.stat().st_size
        print(f"  {label:<11}export size     {size / 1e6:>10.1f} MB ({size / events:.0f} bytes/event)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_001, help="events in the run (odd)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", metavar="SERVER_URL", default=None,
                        help="a PostgreSQL server URL: a fresh database is created on it, dropped after")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ledgerflow-bench-audit-") as folder:
        home = Path(folder)
        measure("SQLite", f"sqlite:///{home / 'audit.db'}", home, args.events, args.repeat)
        if args.database:
            url, drop = fresh_postgres(args.database)
            try:
                measure("PostgreSQL", url, home, args.events, args.repeat)
            finally:
                drop()


if __name__ == "__main__":
    main()
