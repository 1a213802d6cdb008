"""The Grafana dashboard in docs/ parses, and queries only metrics (and labels) that a metered
process exposes."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.engine.metrics import meter, metrics_registry

from .metric_samples import FLOWS, parse

DASHBOARD = Path(__file__).resolve().parents[1] / "docs" / "grafana-dashboard.json"
METRIC = re.compile(r"\bledgerflow_[a-z0-9_]+\b")
GROUPED = re.compile(r"\bby \(([^)]*)\)")
MATCHED = re.compile(r"\{([^}]*)\}")


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", ())


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """The labels of every sample a metered engine exposes once it drove runs, by name."""
    home = tmp_path_factory.mktemp("dashboard")
    (home / "metric_flows.py").write_text(FLOWS)
    with lf.Engine("memory://", home=home) as engine:
        registry = metrics_registry(engine.storage)
        meter(engine, registry)
        for name in ("retrying", "failing", "cached"):
            engine.run(load_flow(f"{home / 'metric_flows.py'}:{name}"))
        engine.submit(load_flow(f"{home / 'metric_flows.py'}:cached"))
        engine.set_limit("db", 2)
        engine.storage.workers.register("w1", "host", 1)
        samples = parse(generate_latest(registry).decode())
    labels: dict[str, set[str]] = {}
    for name, pairs in samples:
        labels.setdefault(name, set()).update(label for label, _ in pairs)
    return labels


def test_the_dashboard_parses_and_each_panel_queries_prometheus() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] == "ledgerflow"
    panels = list(_panels(dashboard))
    assert len({panel["id"] for panel in panels}) == len(panels)
    queried = [panel for panel in panels if panel["type"] != "row"]
    assert len(queried) >= 8
    for panel in queried:
        assert panel["datasource"]["type"] == "prometheus" and panel["targets"], panel["title"]
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys()
    titles = " ".join(panel["title"] for panel in queried).lower()
    for subject in ("by state", "failures by task", "percentiles", "queue depth", "slot", "heartbeat"):
        assert subject in titles


def test_every_metric_and_label_the_dashboard_queries_is_exposed(exposed: dict[str, set[str]]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in _panels(dashboard) for target in panel.get("targets", ())]
    expressions.append(dashboard["templating"]["list"][1]["definition"])
    used: set[str] = set()
    for expression in expressions:
        names = set(METRIC.findall(expression))
        assert names, expression
        assert names <= exposed.keys(), f"{expression}: {sorted(names - exposed.keys())} not exposed"
        used |= names
        labels = {label for group in GROUPED.findall(expression) for label in re.findall(r"\w+", group)}
        labels |= {m for match in MATCHED.findall(expression) for m in re.findall(r"(\w+)\s*=~?", match)}
        known = set().union(*(exposed[name] for name in names))
        assert labels <= known | {"le"}, f"{expression}: labels {sorted(labels - known)} not exposed"
    exposed_families = {_family(name) for name in exposed if name.startswith("ledgerflow_")}
    assert exposed_families == {_family(name) for name in used}  # the dashboard shows every one


def _family(sample: str) -> str:
    """The family of a sample's name (``ledgerflow_x_total``, ``ledgerflow_y_bucket``...)."""
    return re.sub(r"_(total|bucket|count|sum)$", "", sample)
