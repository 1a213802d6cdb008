"""OpenTelemetry traces of runs on threads: a span per drive and per attempt, the spans a task
body opens nested under its attempt's, the trace recorded in the log, resumes linked."""

import subprocess
import sys
import textwrap
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import ledgerflow as lf
from ledgerflow.engine.spans import tracing
from ledgerflow.executors import Invocation, Outcome, ThreadExecutor

from ..crashing import CrashingExecutor
from ..span_capture import span_exporter

__all__ = ["span_exporter"]  # the fixture, used by name

@lf.task(retries=1, retry_delay=0)
def flaky(x: int) -> int:
    if lf.context().attempt == 1:
        raise ValueError("the first attempt fails")
    return x + 1


@lf.task(cache_key=lf.inputs_hash)
def cached(x: int) -> int:
    return x * 2


@lf.task
def user_work(x: int) -> int:
    with trace.get_tracer("user").start_as_current_span("user work"):
        return x + 3


@lf.flow(name="traced")
def traced(x: int = 1) -> Any:
    return [flaky(x), cached(x), user_work(x)]


@lf.task
def step(x: int) -> int:
    return x + 1


@lf.flow(name="steps")
def steps(n: int = 3) -> Any:
    value = 0
    for _ in range(n):
        value = step(value)
    return value


def _by_name(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def _hex(span: ReadableSpan) -> dict[str, str]:
    assert span.context is not None
    return {"trace_id": f"{span.context.trace_id:032x}", "span_id": f"{span.context.span_id:016x}"}


def _parent(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def _span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def test_a_run_is_a_trace_of_its_drive_and_attempts(
    span_exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    with lf.Engine(f"sqlite:///{tmp_path / 'log.db'}", home=tmp_path) as engine:
        run = engine.run(traced, x=1)
        assert run.result() == [2, 2, 4]
        events = engine.events(run.id)
    spans = span_exporter.get_finished_spans()
    (drive,) = _by_name(spans, "ledgerflow run traced")
    assert drive.parent is None and drive.attributes is not None
    assert dict(drive.attributes) == {
        "ledgerflow.run_id": run.id, "ledgerflow.flow": "traced", "ledgerflow.owner": engine.owner,
        "ledgerflow.reason": "start", "ledgerflow.state": "SUCCEEDED",
    }  # fmt: skip
    created, running = events[0], next(event for event in events if event.type == "run.running")
    assert created.payload["trace"] == running.payload["trace"] == _hex(drive)

    attempts = {
        (span.attributes["ledgerflow.task_key"], span.attributes.get("ledgerflow.attempt")): span
        for span in spans
        if span.name.startswith("ledgerflow task ") and span.attributes is not None
    }
    assert set(attempts) == {("flaky", 1), ("flaky", 2), ("cached", 1), ("user_work", 1)}
    assert {_parent(span) for span in attempts.values()} == {_span_id(drive)}
    assert {span.context.trace_id for span in spans if span.context is not None} == {drive.context.trace_id}
    failed = attempts["flaky", 1]
    assert failed.attributes is not None and failed.status.status_code is trace.StatusCode.ERROR
    assert failed.attributes["ledgerflow.state"] == "RETRYING"
    assert failed.attributes["ledgerflow.retry_reason"] == "builtins.ValueError: the first attempt fails"
    assert failed.attributes["ledgerflow.infrastructure"] is False
    succeeded = attempts["flaky", 2]
    assert succeeded.attributes is not None and succeeded.status.status_code is trace.StatusCode.UNSET
    assert succeeded.attributes["ledgerflow.state"] == "SUCCEEDED"
    assert succeeded.attributes["ledgerflow.worker"] and succeeded.attributes["ledgerflow.cache_hit"] is False
    assert succeeded.attributes["ledgerflow.run_id"] == run.id
    # the body's own times, as the ending event records them, within the attempt's span
    body = {event.name: event.timestamp for event in succeeded.events}
    assert succeeded.start_time is not None and succeeded.end_time is not None
    assert succeeded.start_time <= body["body started"] <= body["body finished"] <= succeeded.end_time

    (user,) = _by_name(spans, "user work")
    assert _parent(user) == _span_id(attempts["user_work", 1])


def test_a_cache_hit_has_its_span(span_exporter: InMemorySpanExporter, tmp_path: Path) -> None:
    with lf.Engine(f"sqlite:///{tmp_path / 'log.db'}", home=tmp_path) as engine:
        first = engine.run(traced, x=5)
        span_exporter.clear()
        second = engine.run(traced, x=5)
    assert second.tasks["cached"].state == "CACHED"
    spans = span_exporter.get_finished_spans()
    (drive,) = _by_name(spans, "ledgerflow run traced")
    (hit,) = [span for span in spans if span.attributes and span.attributes.get("ledgerflow.cache_hit")]
    assert hit.attributes is not None and _parent(hit) == _span_id(drive)
    assert hit.attributes["ledgerflow.state"] == "CACHED"
    assert hit.attributes["ledgerflow.task_key"] == "cached"
    assert hit.attributes["ledgerflow.cache_source_run"] == first.id


def test_a_run_started_inside_a_span_joins_its_trace(
    span_exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    with (
        lf.Engine(f"sqlite:///{tmp_path / 'log.db'}", home=tmp_path) as engine,
        trace.get_tracer("user").start_as_current_span("caller") as caller,
    ):
        run = engine.run(steps, n=2)
        created = engine.events(run.id)[0]
    (drive,) = _by_name(span_exporter.get_finished_spans(), "ledgerflow run steps")
    context = caller.get_span_context()
    assert _parent(drive) == context.span_id
    assert created.payload["trace"] == {
        "trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"
    }  # fmt: skip


def test_a_resumed_drive_is_in_the_same_trace_linked_to_the_earlier_one(
    span_exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    with lf.Engine(url, CrashingExecutor("step-2"), home=tmp_path) as crashing:
        with pytest.raises(SystemExit):
            crashing.run(steps, n=4)
        run_id = crashing.runs()[0].run_id
    (first,) = _by_name(span_exporter.get_finished_spans(), "ledgerflow run steps")
    assert first.attributes is not None and first.attributes["ledgerflow.state"] == "RUNNING"
    span_exporter.clear()
    with lf.Engine(url, home=tmp_path) as engine:
        run = engine.resume(run_id)
        assert run.state == "SUCCEEDED"
        running = [event.payload["trace"] for event in engine.events(run_id) if event.type == "run.running"]
    spans = span_exporter.get_finished_spans()
    (second,) = _by_name(spans, "ledgerflow run steps")
    assert second.context is not None and first.context is not None
    assert second.context.trace_id == first.context.trace_id
    assert _parent(second) == _span_id(first)  # the span run.created recorded
    assert [link.context.span_id for link in second.links] == [_span_id(first)]
    assert second.attributes is not None and second.attributes["ledgerflow.reason"] == "resume"
    assert running == [_hex(first), _hex(second)]
    attempts = [
        (span.attributes["ledgerflow.task_key"], span.attributes["ledgerflow.attempt"], _parent(span))
        for span in spans if span.attributes and span.name == "ledgerflow task step"
    ]  # fmt: skip
    # step-2 was left RUNNING: a new attempt
    assert attempts == [("step-2", 2, _span_id(second)), ("step-3", 1, _span_id(second))]


def test_a_submitted_run_nests_under_its_submission(
    span_exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    with lf.Engine(url, home=tmp_path) as engine:
        run_id = engine.submit(steps, n=1)
        created = engine.events(run_id)[0]
    (submission,) = _by_name(span_exporter.get_finished_spans(), "ledgerflow submit steps")
    assert created.payload["trace"] == _hex(submission)
    assert submission.attributes is not None and submission.attributes["ledgerflow.run_id"] == run_id
    with lf.Worker(url, home=tmp_path, schedules=False) as worker:
        assert worker.run_once() == [run_id]
    (drive,) = _by_name(span_exporter.get_finished_spans(), "ledgerflow run steps")
    assert drive.context is not None and submission.context is not None
    assert drive.context.trace_id == submission.context.trace_id
    assert _parent(drive) == _span_id(submission) and drive.links == ()
    assert drive.attributes is not None and drive.attributes["ledgerflow.state"] == "SUCCEEDED"


class RecordingExecutor(ThreadExecutor):
    """Threads, keeping the invocations it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.invocations: list[Invocation] = []

    def submit_many(self, invocations: Sequence[Invocation]) -> list[Future[Outcome]]:
        self.invocations.extend(invocations)
        return super().submit_many(invocations)


def test_without_a_tracer_provider_nothing_is_traced(tmp_path: Path) -> None:
    assert tracing() is None  # the API's default provider records nothing
    executor = RecordingExecutor()
    with lf.Engine(f"sqlite:///{tmp_path / 'log.db'}", executor, home=tmp_path) as engine:
        run = engine.run(traced, x=2)
        events = engine.events(run.id)
    executor.close()
    assert run.state == "SUCCEEDED" and len(executor.invocations) == 4
    assert {invocation.trace for invocation in executor.invocations} == {None}
    assert not [event for event in events if "trace" in event.payload]


def test_ledgerflow_runs_without_opentelemetry(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if not installed: importing it fails
        import ledgerflow as lf

        @lf.task
        def double(x: int) -> int:
            return 2 * x

        @lf.flow(name="plain")
        def plain():
            return double.map([1, 2])

        with lf.Engine("memory://plain", home=sys.argv[1]) as engine:
            run = engine.run(plain)
            engine.submit(plain)
        assert run.result() == [2, 4], run.state
        assert not [name for name in sys.modules if name.startswith("opentelemetry.")]
        print("ran", run.state)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ran SUCCEEDED"
