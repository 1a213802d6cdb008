"""Resume of a large half-finished run, on SQLite and on PostgreSQL.

    python benchmarks/bench_resume.py [--tasks 10000] [--done 5000] [--postgres URL]

Writes, with the storage API (no driver runs it), the log a driver that died would
leave: a fan-out of TASKS no-op mapped tasks, the first DONE of them succeeded, the
rest never started. Then times ``engine.resume(run_id)`` on threads: from the call to
the first appended batch holding a ``task.running`` event (the first new submission:
read the log, fold it, trace the flow, compute the frontier, record the decisions),
and to the end of the run. PostgreSQL gets a fresh database on the server given by
--postgres, dropped after. Each database is warmed up by resuming a small run first.
"""

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bench_core import DEFAULT_POSTGRES, fresh_postgres

import ledgerflow as lf
from ledgerflow.engine.api import ENGINE_VERSION
from ledgerflow.engine.core.events import Event, NewEvent
from ledgerflow.engine.core.fold import fold
from ledgerflow.engine.home import new_run_id

BATCH = 2_000  # events per append while writing the dead driver's log


@lf.task
def work(x: int) -> None:
    return None


@lf.flow(name="resume_fanout")
def fanout(n: int) -> None:
    work.map(list(range(n)))


@dataclass
class Measurement:
    database: str
    events: int
    read_s: float
    fold_s: float
    first_submission_s: float
    total_s: float


def half_finished_run(engine: lf.Engine, n: int, done: int) -> str:
    """A run as a driver that died after ``done`` of its ``n`` tasks succeeded leaves it."""
    bound = fanout.bind({"n": n})
    graph = fanout.trace(bound).graph
    now = datetime.now(UTC)
    run_id = new_run_id(now)
    log = engine.storage.log
    created = NewEvent(None, "run.created", {
        "flow": fanout.name, "flow_ref": fanout.ref, "parameters": bound,
        "graph": graph.to_dict(), "graph_hash": graph.digest(), "state": "PENDING",
        "engine_version": ENGINE_VERSION,
    }, now)
    seq = log.append(run_id, 0, [created])[-1].seq
    batch = [NewEvent(None, "run.running", {"owner": "dead-driver", "reason": "start"}, now)]
    for key in list(graph.nodes)[:done]:
        batch.append(NewEvent(key, "task.running", {"attempt": 1}, now))
        batch.append(NewEvent(key, "task.succeeded", {
            "attempt": 1, "duration": 0.000121, "result": {"inline": None},
        }, now))
        if len(batch) >= BATCH:
            seq = log.append(run_id, seq, batch)[-1].seq
            batch = []
    if batch:
        log.append(run_id, seq, batch)
    return run_id


def timed_resume(engine: lf.Engine, run_id: str, label: str) -> Measurement:
    """Resume the run; times the first new submission and the whole resume."""
    start = time.perf_counter()
    events = engine.events(run_id)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    fold(events)
    fold_s = time.perf_counter() - start
    first: float | None = None

    def listen(batch: Sequence[Event]) -> None:
        nonlocal first
        if first is None and any(event.type == "task.running" for event in batch):
            first = time.perf_counter() - start

    start = time.perf_counter()
    run = engine.resume(run_id, on_events=listen)
    total_s = time.perf_counter() - start
    assert run.state == "SUCCEEDED", run
    assert first is not None, "the resume submitted nothing"
    return Measurement(label, len(events), read_s, fold_s, first, total_s)


def measure(label: str, engine: lf.Engine, n: int, done: int) -> Measurement:
    timed_resume(engine, half_finished_run(engine, 100, 50), label)  # warm up
    found = timed_resume(engine, half_finished_run(engine, n, done), label)
    print(f"  {label}: first submission after {found.first_submission_s * 1e3:.0f} ms",
          flush=True)
    return found


def report(results: list[Measurement]) -> None:
    print()
    print(f"{'database':<12}{'events folded':>15}{'read log ms':>13}{'fold ms':>9}"
          f"{'first submission ms':>21}{'total resume s':>16}")
    for m in results:
        print(f"{m.database:<12}{m.events:>15}{m.read_s * 1e3:>13.0f}{m.fold_s * 1e3:>9.1f}"
              f"{m.first_submission_s * 1e3:>21.0f}{m.total_s:>16.2f}")
    print("\n(read log and fold are measured apart; the resume does both again, inside"
          " 'first submission')")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--done", type=int, default=5_000)
    parser.add_argument(
        "--postgres", default=os.environ.get("LEDGERFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server URL; a fresh database is created on it and dropped after",
    )
    args = parser.parse_args()
    results: list[Measurement] = []
    home = tempfile.mkdtemp(prefix="ledgerflow-bench-resume-")
    with lf.Engine(None, "threads", home=home) as engine:
        results.append(measure("SQLite", engine, args.tasks, args.done))
    postgres_url, drop = fresh_postgres(args.postgres)
    try:
        with lf.Engine(postgres_url, "threads", home=home) as engine:
            results.append(measure("PostgreSQL", engine, args.tasks, args.done))
    finally:
        drop()
    report(results)


if __name__ == "__main__":
    main()
