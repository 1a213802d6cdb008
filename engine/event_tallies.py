"""``EventTallies``: what the events this process appended count (attempts, task durations,
finished runs, start delays, hook deliveries), kept as plain counts and exposed by
``prometheus_client`` at each scrape.

Plain counts because they move once per event, on the path of every append: a batch takes
one lock and adds to dicts, where a ``prometheus_client`` child would take a lock per
counter and per histogram bucket (a few microseconds an event, measured in
``benchmarks/bench_core.py --metrics``). The scrape renders them as the library's counter
and histogram families.
"""

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_le: Callable[[float], str] = floatToGoString  # the library's spelling of a bucket's bound

TASK_SECONDS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600)
"""Buckets of task bodies: from no-ops to ML steps of hours."""
START_SECONDS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400)
"""Buckets of a run's wait from its submission to its start."""


@dataclass(slots=True)
class Distribution:
    """Observations counted into buckets (each value in the first bucket it is at most, the
    last one for the larger ones), with their sum."""

    bounds: Sequence[float]
    counts: list[int] = field(init=False)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def add(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        """The buckets as Prometheus writes them: cumulative, ``le`` as a string, +Inf last."""
        running, found = 0, list[tuple[str, float]]()
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            found.append((_le(bound), running))
        return found


class EventTallies(Collector):
    """The counts; change them only holding ``lock`` (one batch of events at a time)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts: dict[tuple[str, str, str], int] = {}
        self.durations: dict[tuple[str, str], Distribution] = {}
        self.finished: dict[tuple[str, str], int] = {}
        self.hooks: dict[str, int] = {}
        self.start_delays = Distribution(START_SECONDS)

    def attempt(self, flow: str, task: str, outcome: str, duration: float | None) -> None:
        """One attempt of ``task`` ended as ``outcome`` (a task state), having run ``duration`` s."""
        key = (flow, task, outcome)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if duration is not None:
            found = self.durations.get((flow, task))
            if found is None:
                found = self.durations[(flow, task)] = Distribution(TASK_SECONDS)
            found.add(duration)

    def describe(self) -> Iterator[Metric]:
        """The families, without counts (what the registry asks when registering)."""
        yield from _families()

    def collect(self) -> Iterator[Metric]:
        """The families with the counts of now."""
        attempts, durations, finished, hooks, delays = _families()
        with self.lock:
            for (flow, task, outcome), count in self.attempts.items():
                attempts.add_metric([flow, task, outcome], count)
            for (flow, task), seen in self.durations.items():
                durations.add_metric([flow, task], seen.cumulative(), seen.total)
            for (flow, state), count in self.finished.items():
                finished.add_metric([flow, state], count)
            for outcome, count in self.hooks.items():
                hooks.add_metric([outcome], count)
            delays.add_metric([], self.start_delays.cumulative(), self.start_delays.total)
        yield from (attempts, durations, finished, hooks, delays)


_Families = tuple[
    CounterMetricFamily,  # attempts
    HistogramMetricFamily,  # durations
    CounterMetricFamily,  # finished runs
    CounterMetricFamily,  # hook deliveries
    HistogramMetricFamily,  # start delays
]


def _families() -> _Families:
    return (
        CounterMetricFamily(
            "ledgerflow_task_attempts", "Task attempts ended (and cache hits), by the task's name and "
            "how they ended (the task state entered: SUCCEEDED, RETRYING, FAILED, SKIPPED, "
            "CANCELLED, CACHED).", labels=["flow", "task", "outcome"],
        ),
        HistogramMetricFamily(
            "ledgerflow_task_duration_seconds", "How long task bodies ran, as their ending events "
            "record it.", labels=["flow", "task"],
        ),
        CounterMetricFamily(
            "ledgerflow_runs_finished", "Runs this process ended, by flow and final state "
            "(SUCCEEDED, FAILED, CANCELLED, CRASHED).", labels=["flow", "state"],
        ),
        CounterMetricFamily(
            "ledgerflow_hook_deliveries", "Hook deliveries recorded, by outcome (sent, failed).",
            labels=["outcome"],
        ),
        HistogramMetricFamily(
            "ledgerflow_run_start_delay_seconds", "From a run's run.created to its first run.running, "
            "for the runs this process started.",
        ),
    )
