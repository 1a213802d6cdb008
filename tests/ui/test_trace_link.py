"""The Run page links to the run's trace when ``LEDGERFLOW_TRACE_URL`` is set and the run
recorded one (tracing was on when it was created)."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import ledgerflow as lf
from ledgerflow.engine.flow import Flow

from ..span_capture import span_exporter

__all__ = ["span_exporter"]  # the fixture, used by name

FlowOf = Callable[[str], Flow[..., object]]
TEMPLATE = "http://localhost:16686/trace/{trace_id}?uiFind={span_id}"


def test_the_run_page_links_to_the_runs_trace(
    client: TestClient, engine: lf.Engine, flow: FlowOf, span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    traced = engine.run(flow("chain"), x=1).id
    recorded = engine.events(traced)[0].payload["trace"]
    monkeypatch.setenv("LEDGERFLOW_TRACE_URL", TEMPLATE)
    page = client.get(f"/runs/{traced}").text
    link = f"http://localhost:16686/trace/{recorded['trace_id']}?uiFind={recorded['span_id']}"
    assert f'<a href="{link}" class="trace-link"' in page
    monkeypatch.delenv("LEDGERFLOW_TRACE_URL")
    assert 'class="trace-link"' not in client.get(f"/runs/{traced}").text


def test_no_link_for_a_run_that_recorded_no_trace(
    client: TestClient, engine: lf.Engine, flow: FlowOf, monkeypatch: pytest.MonkeyPatch
) -> None:
    untraced = engine.run(flow("chain"), x=1).id
    monkeypatch.setenv("LEDGERFLOW_TRACE_URL", TEMPLATE)
    assert "trace" not in engine.events(untraced)[0].payload
    assert 'class="trace-link"' not in client.get(f"/runs/{untraced}").text
