"""The metrics tests' tools: flows that retry, fail (with a hook) and hit the cache, an
exposition read back with ``prometheus_client``'s parser, and what the counters and
histograms of a process must say given the logs its runs wrote (recomputed from the events
here, by the rules the README states)."""

from collections import Counter
from collections.abc import Iterable, Sequence
from textwrap import dedent

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from ledgerflow.engine.core.events import Event
from ledgerflow.engine.event_tallies import START_SECONDS, TASK_SECONDS

FLOWS = dedent(
    '''
    import logging

    import ledgerflow as lf


    @lf.task
    def numbers(n: int) -> list[int]:
        return list(range(n))


    @lf.task(retries=1, retry_delay=0)
    def flaky(x: int) -> int:
        if lf.context().attempt == 1:
            raise RuntimeError(f"attempt 1 of flaky({x}) fails")
        return x


    @lf.task(cache_key=lf.inputs_hash)
    def square(x: int) -> int:
        return x * x


    @lf.task
    def broken(x: int) -> int:
        logging.getLogger("metrics.flows").warning("broken(%s) is about to fail", x)
        raise ValueError(f"broken({x})")


    def noted(ctx: lf.HookContext) -> None:
        logging.getLogger("metrics.flows").info("hook for %s", ctx.run_id)


    @lf.flow(name="retrying")
    def retrying(n: int = 2):
        return flaky.map(numbers(n))


    @lf.flow(name="cached")
    def cached(x: int = 3):
        return square.map([x, x + 1])


    @lf.flow(name="failing", on_failure=noted)
    def failing(x: int = 1):
        return broken(x)
    '''
)

Key = tuple[str, frozenset[tuple[str, str]]]
Samples = dict[Key, float]
ATTEMPT_ENDINGS = {
    "task.succeeded": "SUCCEEDED", "task.retrying": "RETRYING", "task.failed": "FAILED",
    "task.skipped": "SKIPPED", "task.cancelled": "CANCELLED",
}  # fmt: skip
RUN_ENDINGS = {"run.succeeded", "run.failed", "run.cancelled", "run.crashed"}
COUNTED = (
    "ledgerflow_task_attempts_total", "ledgerflow_task_duration_seconds", "ledgerflow_runs_finished_total",
    "ledgerflow_hook_deliveries_total", "ledgerflow_run_start_delay_seconds",
)  # fmt: skip


def parse(text: str) -> Samples:
    """Every sample of an exposition, by name and labels (``_created`` samples left out)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, or None if the exposition lacks it."""
    return samples.get((name, frozenset(labels.items())))


def counted(samples: Samples) -> Samples:
    """The samples the log decides (attempts, durations, finished runs, hooks, start delays),
    the zero counts of label sets never counted left out."""
    return {key: value for key, value in samples.items() if key[0].startswith(COUNTED) and value}


def expected(logs: Iterable[Sequence[Event]]) -> Samples:
    """What ``counted`` must give for a process that appended these whole logs but their
    ``run.created``."""
    attempts: Counter[tuple[str, str, str]] = Counter()
    durations: dict[tuple[str, str], list[float]] = {}
    finished: Counter[tuple[str, str]] = Counter()
    hooks: Counter[str] = Counter()
    delays: list[float] = []
    for log in logs:
        created = log[0]
        flow = created.payload["flow"]
        tasks = {node["key"]: node["task"] for node in created.payload["graph"]["nodes"]}
        running = [event for event in log if event.type == "run.running"]
        if running:
            delays.append((running[0].ts - created.ts).total_seconds())
        for event in log:
            if (event.type in ATTEMPT_ENDINGS and "attempt" in event.payload) or event.type == "task.cached":
                assert event.task_key is not None
                task = tasks.get(event.task_key) or tasks[event.task_key.rsplit("[", 1)[0]]
                attempts[(flow, task, ATTEMPT_ENDINGS.get(event.type, "CACHED"))] += 1
                if "duration" in event.payload:
                    durations.setdefault((flow, task), []).append(event.payload["duration"])
            elif event.type in RUN_ENDINGS:
                finished[(flow, event.type[4:].upper())] += 1
            elif event.type.startswith("hook."):
                hooks[event.type[5:]] += 1
    found: Samples = {}
    for (flow, task, outcome), count in attempts.items():
        found[_key("ledgerflow_task_attempts_total", flow=flow, task=task, outcome=outcome)] = count
    for (flow, task), seconds in durations.items():
        found.update(
            _histogram("ledgerflow_task_duration_seconds", seconds, TASK_SECONDS, flow=flow, task=task)
        )
    for (flow, state), count in finished.items():
        found[_key("ledgerflow_runs_finished_total", flow=flow, state=state)] = count
    for outcome, count in hooks.items():
        found[_key("ledgerflow_hook_deliveries_total", outcome=outcome)] = count
    found.update(_histogram("ledgerflow_run_start_delay_seconds", delays, START_SECONDS))
    return {key: value for key, value in found.items() if value}


def _key(name: str, **labels: str) -> Key:
    return name, frozenset(labels.items())


def _histogram(name: str, values: list[float], buckets: Sequence[float], **labels: str) -> Samples:
    found = {
        _key(f"{name}_bucket", **labels, le=floatToGoString(bound)): sum(value <= bound for value in values)
        for bound in (*buckets, float("inf"))
    }
    found[_key(f"{name}_count", **labels)] = len(values)
    found[_key(f"{name}_sum", **labels)] = sum(values)
    return found


def assert_same(actual: Samples, wanted: Samples) -> None:
    """The same samples with the same values (sums of seconds to a microsecond)."""
    assert actual.keys() == wanted.keys(), _difference(actual, wanted)
    for key, value in wanted.items():
        assert abs(actual[key] - value) < 1e-6, (key, actual[key], value)


def _difference(actual: Samples, wanted: Samples) -> str:
    extra = [key for key in actual if key not in wanted]
    missing = [key for key in wanted if key not in actual]
    return f"not in the log: {extra}\nnot in the metrics: {missing}"
