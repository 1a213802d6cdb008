"""The Run page offers "Restart run" only where a restart would re-run something, and
counts the children a restart's new expansion of a map superseded."""

import re
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

import ledgerflow as lf
from ledgerflow.engine.core.events import NewEvent
from ledgerflow.engine.flow import Flow

FlowOf = Callable[[str], Flow[..., object]]


def test_a_succeeded_run_offers_restart_only_from_a_chosen_task(
    client: TestClient, engine: lf.Engine, flow: FlowOf, flows_dir: Path
) -> None:
    run = engine.run(flow("chain"))
    page = client.get(f"/runs/{run.id}", params={"task": "fragile"}).text
    assert ">Restart run</button>" not in page
    assert ">Restart from fragile</button>" in page
    (flows_dir / "break").touch()
    failed = engine.run(flow("chain"))
    assert ">Restart run</button>" in client.get(f"/runs/{failed.id}").text


def test_a_map_expanded_again_with_fewer_children_lists_only_the_new_ones(
    client: TestClient, engine: lf.Engine, flow: FlowOf
) -> None:
    run = engine.run(flow("fanout"), n=3)
    head = engine.events(run.id)[-1].seq
    restart = [  # what a restart from "numbers" records when the list is now one long
        NewEvent(None, "run.running", {"owner": "test", "reason": "restart"}),
        NewEvent("numbers", "task.pending", {"reason": "restart"}),
        NewEvent("double", "task.pending", {"reason": "restart", "superseded": 3}),
        NewEvent("total", "task.pending", {"reason": "restart"}),
        NewEvent("numbers", "task.running", {"attempt": 2}),
        NewEvent("numbers", "task.succeeded", {"attempt": 2, "result": {"inline": [5]}}),
        NewEvent("double", "task.mapped", {"count": 1}),
        NewEvent("double[0]", "task.running", {"attempt": 2}),
        NewEvent("double[0]", "task.succeeded", {"attempt": 2, "result": {"inline": 10}}),
        NewEvent("total", "task.running", {"attempt": 2}),
        NewEvent("total", "task.succeeded", {"attempt": 2, "result": {"inline": 10}}),
        NewEvent(None, "run.succeeded", {}),
    ]
    engine.storage.log.append(run.id, head, restart)
    page = client.get(f"/runs/{run.id}").text
    assert "2 children of an earlier expansion superseded" in page
    children = client.get(f"/runs/{run.id}", params={"expand": "double"}).text
    assert re.findall(r'<tr data-task="(double\[\d+\])"', children) == ["double[0]"]
    detail = client.get(f"/api/runs/{run.id}").json()
    assert detail["superseded"] == 2 and detail["task_count"] == 4
    assert detail["maps"][0]["children"] == 1
