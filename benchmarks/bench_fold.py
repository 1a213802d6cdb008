"""Fold and frontier speed on realistic logs built in memory (no database).

    python benchmarks/bench_fold.py [--fanout 10000] [--chain 200] [--repeat 20]

Builds the log a real run writes (payloads as the scheduler records them, decoded
from JSON as the log reads them back) for (a) a fan-out of FANOUT mapped no-op tasks
and a task collecting their results, and (b) a chain of CHAIN tasks where every
fifth task fails once and is retried. Folds each log REPEAT times and prints the
best and median events/s and the cost per event; then times ``frontier`` over the
fan-out with nothing done, half done, and everything done.
"""

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

import ledgerflow as lf
from ledgerflow.engine.core.events import Event
from ledgerflow.engine.core.fold import RunView, fold
from ledgerflow.engine.core.frontier import frontier
from ledgerflow.engine.core.graph import Graph

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@lf.task
def work(x: int) -> int:
    return x


@lf.task
def total(values: list[int]) -> int:
    return sum(values)


@lf.task(retries=2)
def inc(x: int) -> int:
    return x + 1


@lf.flow(name="fanout")
def fanout(n: int) -> Any:
    return total(work.map(list(range(n))))


@lf.flow(name="chain")
def chain(n: int) -> Any:
    value = inc(0)
    for _ in range(n - 1):
        value = inc(value)
    return value


class LogWriter:
    """Appends events with consecutive seqs and the payloads a real log reads back."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.events: list[Event] = []

    def add(self, task_key: str | None, type_: str, payload: dict[str, Any]) -> None:
        seq = len(self.events) + 1
        decoded = orjson.loads(orjson.dumps(payload))  # as the log decodes it on read
        ts = T0 + timedelta(microseconds=137 * seq)
        prev = self.events[-1].hash if self.events else ""
        self.events.append(
            Event(self.run_id, seq, task_key, type_, decoded, ts, prev, f"{seq:064x}")
        )


def created(writer: LogWriter, flow: lf.Flow[..., Any], n: int) -> list[str]:
    """Record run.created as ``Engine.run_flow`` does; returns the task keys in order."""
    traced = flow.trace(flow.bind({"n": n}))
    writer.add(None, "run.created", {
        "flow": flow.name, "flow_ref": f"bench:{flow.name}", "parameters": {"n": n},
        "graph": traced.graph.to_dict(), "graph_hash": traced.graph.digest(),
        "state": "PENDING", "engine_version": "0.1.0",
    })
    writer.add(None, "run.running", {"owner": "bench:1:abcdef01"})
    return list(traced.graph.nodes)


def succeed(writer: LogWriter, key: str, attempt: int, value: Any) -> None:
    writer.add(key, "task.running", {"attempt": attempt})
    started = writer.events[-1].ts + timedelta(microseconds=50)
    writer.add(key, "task.succeeded", {
        "attempt": attempt, "duration": 0.000183, "result": {"inline": value},
        "started_at": started.isoformat(timespec="microseconds"),
        "finished_at": (started + timedelta(microseconds=183)).isoformat(timespec="microseconds"),
    })


def fanout_log(n: int, done: int | None = None) -> list[Event]:
    """A fan-out run; with ``done`` only the first ``done`` mapped tasks have finished."""
    writer = LogWriter("20260101-000000-fanout00")
    keys = created(writer, fanout, n)
    mapped, collector = keys[:-1], keys[-1]
    for index, key in enumerate(mapped[:done]):
        succeed(writer, key, 1, index)
    if done is None:
        succeed(writer, collector, 1, n * (n - 1) // 2)
        writer.add(None, "run.succeeded", {})
    return writer.events


def chain_log(n: int) -> list[Event]:
    """A chain where every fifth task fails once, waits, and succeeds on its second attempt."""
    writer = LogWriter("20260101-000000-chain000")
    for index, key in enumerate(created(writer, chain, n)):
        attempt = 1
        if index % 5 == 0:
            error = {"type": "OSError", "message": "flaky", "traceback": "Traceback ...\n" * 8}
            writer.add(key, "task.running", {"attempt": 1})
            retry_at = (T0 + timedelta(seconds=index)).isoformat(timespec="microseconds")
            writer.add(key, "task.retrying", {
                "attempt": 1, "duration": 0.0004, "error": error, "delay": 1.0,
                "retry_at": retry_at,
            })
            attempt = 2
        succeed(writer, key, attempt, index + 1)
    writer.add(None, "run.succeeded", {})
    return writer.events


def timings(action: Callable[[], object], repeat: int) -> list[float]:
    found = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        found.append(time.perf_counter() - start)
    return found


def report_fold(label: str, events: Sequence[Event], repeat: int) -> None:
    fold(events)  # warm up
    seconds = timings(lambda: fold(events), repeat)
    best, median = min(seconds), statistics.median(seconds)
    print(f"{label:<30}{len(events):>8}{len(events) / best:>14,.0f}{len(events) / median:>14,.0f}"
          f"{best * 1e6 / len(events):>10.2f}{median * 1e3:>11.2f}")


def report_frontier(label: str, graph: Graph, state: RunView, repeat: int) -> None:
    step = frontier(graph, state)
    seconds = timings(lambda: frontier(graph, state), repeat)
    print(f"{label:<38}{len(state.tasks):>8}{min(seconds) * 1e3:>10.2f}"
          f"{statistics.median(seconds) * 1e3:>12.2f}{len(step.ready):>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fanout", type=int, default=10_000)
    parser.add_argument("--chain", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    full = fanout_log(args.fanout)
    half = fanout_log(args.fanout, done=args.fanout // 2)
    chained = chain_log(args.chain)
    print(f"{'fold':<30}{'events':>8}{'best ev/s':>14}{'median ev/s':>14}"
          f"{'us/event':>10}{'median ms':>11}")
    report_fold(f"fan-out {args.fanout} (finished)", full, args.repeat)
    report_fold(f"fan-out {args.fanout} (half done)", half, args.repeat)
    report_fold(f"chain {args.chain} with retries", chained, args.repeat * 10)
    print()
    print(f"{'frontier':<38}{'tasks':>8}{'best ms':>10}{'median ms':>12}{'ready':>8}")
    # The scheduler decides with the graph it traced (as here), not the recorded one.
    wide = fanout.trace({"n": args.fanout}).graph
    report_frontier(f"fan-out {args.fanout}, nothing done", wide, fold(half[:2]), args.repeat)
    report_frontier(f"fan-out {args.fanout}, half done", wide, fold(half), args.repeat)
    report_frontier(f"fan-out {args.fanout}, all done", wide, fold(full[:-3]), args.repeat)
    report_frontier(f"chain {args.chain}, half done", chain.trace({"n": args.chain}).graph,
                    fold(chained[: len(chained) // 2]), args.repeat * 10)


if __name__ == "__main__":
    main()
