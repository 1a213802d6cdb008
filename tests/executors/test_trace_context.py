"""A task body runs in its attempt's span context: the spans it opens are the attempt span's
children, on the driver's threads and on Dask worker processes (one Dask task or a batch)."""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import distributed
import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import ledgerflow as lf
from ledgerflow.executors import DaskExecutor
from ledgerflow.executors.span_context import body_context

from .. import span_capture
from ..span_capture import PLUGIN_NAME, SpanCapture, as_dict, span_exporter, spans_on_workers

__all__ = ["span_exporter"]  # the fixture, used by name

# pytest imports the tests under a name the workers cannot import: send them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])
cloudpickle.register_pickle_by_value(span_capture)


@lf.task
def work(x: int) -> int:
    with trace.get_tracer("user").start_as_current_span("user work") as span:
        span.set_attribute("x", x)
        return x + 1


@lf.flow(name="traced_on_dask")
def traced_on_dask(n: int = 12) -> Any:
    return work.map(list(range(n)))


@pytest.fixture
def worker_spans(dask_client: distributed.Client) -> Iterator[distributed.Client]:
    """Tracing on in the session cluster's workers for the test, their spans in memory."""
    dask_client.register_plugin(SpanCapture(), name=PLUGIN_NAME)
    try:
        yield dask_client
    finally:
        dask_client.unregister_worker_plugin(PLUGIN_NAME)


def test_spans_a_body_opens_on_a_dask_worker_are_children_of_its_attempt(
    span_exporter: InMemorySpanExporter, worker_spans: distributed.Client, tmp_path: Path
) -> None:
    executor = DaskExecutor(client=worker_spans)
    with lf.Engine(f"sqlite:///{tmp_path / 'log.db'}", executor, home=tmp_path) as engine:
        run = engine.run(traced_on_dask, n=12)
    assert run.result() == list(range(1, 13))
    attempts = {
        span["attributes"]["ledgerflow.task_key"]: span
        for span in map(as_dict, span_exporter.get_finished_spans())
        if span["name"] == "ledgerflow task work"
    }
    assert len(attempts) == 12
    workers = set(worker_spans.scheduler_info()["workers"])
    assert {span["attributes"]["ledgerflow.worker"] for span in attempts.values()} <= workers
    user = spans_on_workers(worker_spans)
    assert len(user) == 12 and {span["name"] for span in user} == {"user work"}
    for span in user:  # each body, batched or not, in its own attempt's context
        attempt = attempts[f"work[{span['attributes']['x']}]"]
        assert span["parent_id"] == attempt["span_id"] and span["trace_id"] == attempt["trace_id"]


def test_a_body_runs_in_the_context_its_invocation_carries(span_exporter: InMemorySpanExporter) -> None:
    with trace.get_tracer("test").start_as_current_span("attempt") as attempt:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    assert trace.get_current_span() is trace.INVALID_SPAN
    expected = attempt.get_span_context()
    with body_context(carrier):
        current = trace.get_current_span().get_span_context()
        assert (current.trace_id, current.span_id) == (expected.trace_id, expected.span_id)
    assert trace.get_current_span() is trace.INVALID_SPAN
    with body_context(None):  # untraced: the context stays as it is
        assert trace.get_current_span() is trace.INVALID_SPAN
