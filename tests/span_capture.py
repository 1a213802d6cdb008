"""OpenTelemetry SDK span capture for the tests of traces: in this process (a fixture) and on
Dask worker processes (a worker plugin).

A process has one global tracer provider, which the API lets be set only once; the tests set a
fresh one per test and put the API's globals back after it, as OpenTelemetry's own test
utilities do, so that the tests that follow run with tracing off.
"""

from collections.abc import Iterator
from typing import Any

import distributed
import pytest
from distributed.diagnostics.plugin import WorkerPlugin
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

PLUGIN_NAME = "ledgerflow-test-span-capture"


def install_provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    """A fresh SDK tracer provider exporting to memory, set as this process's global one."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    trace.set_tracer_provider(provider)
    return provider, exporter


def remove_provider(provider: TracerProvider) -> None:
    """The API's globals as before any provider was set (tracing off)."""
    provider.shutdown()
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.fixture
def span_exporter() -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process for the test: the spans it ends, in memory."""
    provider, exporter = install_provider()
    try:
        yield exporter
    finally:
        remove_provider(provider)


def as_dict(span: ReadableSpan) -> dict[str, Any]:
    """A finished span as plain data (it crosses processes)."""
    context, parent = span.context, span.parent
    assert context is not None
    return {
        "name": span.name,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_id": None if parent is None else f"{parent.span_id:016x}",
        "attributes": dict(span.attributes or {}),
        "links": [f"{link.context.span_id:016x}" for link in span.links],
        "events": [event.name for event in span.events],
        "status": span.status.status_code.name,
    }


class SpanCapture(WorkerPlugin):
    """On each worker: tracing on, its spans kept in memory (``spans_on_workers`` reads them)."""

    def setup(self, worker: distributed.Worker) -> None:
        self.provider, self.exporter = install_provider()

    def teardown(self, worker: distributed.Worker) -> None:
        remove_provider(self.provider)


def _finished(dask_worker: distributed.Worker) -> list[dict[str, Any]]:
    return [as_dict(span) for span in dask_worker.plugins[PLUGIN_NAME].exporter.get_finished_spans()]


def spans_on_workers(client: distributed.Client) -> list[dict[str, Any]]:
    """The spans the workers ended, as plain data."""
    return [span for spans in client.run(_finished).values() for span in spans]
