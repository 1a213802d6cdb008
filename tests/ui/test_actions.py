"""Actions of the web API go through the engine and leave their events in the log."""

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import ledgerflow as lf
from ledgerflow.engine.flow import Flow

from ..crashing import CrashingExecutor
from .conftest import MakeClient, csrf_headers

FlowOf = Callable[[str], Flow[..., object]]


def test_cancel_of_a_scheduled_run_records_it(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    run_id = engine.submit(flow("chain"))
    headers = csrf_headers(client)
    answer = client.post(f"/api/runs/{run_id}/cancel", json={"reason": "not today"}, headers=headers)
    assert answer.status_code == 200
    assert answer.json() == {
        "run_id": run_id, "state": "CANCELLED", "was_finished": False, "is_cancelled": True
    }
    events = engine.events(run_id)
    assert events[-1].type == "run.cancelled"
    assert "not today" in str([dict(event.payload) for event in events])
    again = client.post(f"/api/runs/{run_id}/cancel", headers=headers).json()
    assert again["was_finished"] is True


def test_actions_on_an_unknown_run_are_404(client: TestClient) -> None:
    headers = csrf_headers(client)
    for action in ("cancel", "restart", "resume"):
        answer = client.post(f"/api/runs/nope/{action}", headers=headers)
        assert answer.status_code == 404 and "no run with id 'nope'" in answer.json()["detail"], action


def test_restart_of_a_failed_run_drives_it_in_the_background(
    make_client: MakeClient, engine: lf.Engine, flow: FlowOf, flows_dir: Path
) -> None:
    (flows_dir / "break").touch()
    failed = engine.run(flow("chain"))
    assert failed.state == "FAILED"
    head = len(engine.events(failed.id))
    (flows_dir / "break").unlink()
    with make_client() as client:
        answer = client.post(f"/api/runs/{failed.id}/restart", json={}, headers=csrf_headers(client))
        assert answer.status_code in (200, 202), answer.text
        assert answer.json()["first_seq"] == head + 1 and answer.json()["action"] == "restart"
    # leaving the client waited for the drive
    events = engine.events(failed.id)
    assert [e.task_key for e in events[head:] if e.type == "task.pending"] == ["fragile", "double"]
    assert engine.get_run(failed.id).state == "SUCCEEDED"


def test_restart_refusals(client: TestClient, engine: lf.Engine, flow: FlowOf, flows_dir: Path) -> None:
    headers = csrf_headers(client)
    scheduled = engine.submit(flow("chain"))
    unfinished = client.post(f"/api/runs/{scheduled}/restart", headers=headers)
    assert unfinished.status_code == 409 and "not finished" in unfinished.json()["detail"]
    (flows_dir / "break").touch()
    failed = engine.run(flow("chain"))
    unknown = client.post(f"/api/runs/{failed.id}/restart", json={"from_task": "nope"}, headers=headers)
    assert unknown.status_code == 422 and "from_task" in unknown.json()["detail"]
    assert len(engine.events(failed.id)) == engine.storage.log.run(failed.id).head_seq


def test_resume_continues_a_crashed_run(
    make_client: MakeClient, engine: lf.Engine, flow: FlowOf, isolated: Path, database_url: str
) -> None:
    with lf.Engine(database_url, CrashingExecutor("double"), home=isolated) as dying:
        with pytest.raises(SystemExit):
            dying.run(flow("chain"))
        run_id = dying.runs()[0].run_id
    head = len(engine.events(run_id))
    with make_client() as client:
        answer = client.post(f"/api/runs/{run_id}/resume", headers=csrf_headers(client))
        assert answer.status_code in (200, 202) and answer.json()["first_seq"] == head + 1
    assert engine.get_run(run_id).state == "SUCCEEDED"


def test_resume_of_a_finished_run_answers_at_once(
    client: TestClient, engine: lf.Engine, flow: FlowOf
) -> None:
    run = engine.run(flow("chain"))
    answer = client.post(f"/api/runs/{run.id}/resume", headers=csrf_headers(client))
    assert answer.status_code == 200
    assert answer.json() == {"run_id": run.id, "action": "resume", "state": "SUCCEEDED",
                             "is_finished": True, "first_seq": None}  # fmt: skip


def test_limit_change_is_visible(client: TestClient) -> None:
    headers = csrf_headers(client)
    assert client.post("/api/limits/gpu", json={"limit": 3}, headers=headers).json()["limit"] == 3
    assert client.post("/api/limits/gpu", json={"limit": 0}, headers=headers).status_code == 200
    assert client.get("/api/limits").json() == [{"tag": "gpu", "limit": 0, "in_use": 0, "waiting": []}]
    assert client.post("/api/limits/gpu", json={"limit": -1}, headers=headers).status_code == 422
    assert client.post("/api/limits/gpu", json={}, headers=headers).status_code == 422


def test_pause_and_resume_a_schedule(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    engine.schedule("hourly", flow("chain"), interval="1h")
    headers = csrf_headers(client)
    paused = client.post("/api/schedules/hourly/pause", headers=headers).json()
    assert paused["is_paused"] is True and paused["next_fire_time"] is None
    assert engine.schedules()[0].is_paused
    resumed = client.post("/api/schedules/hourly/resume", headers=headers).json()
    assert resumed["is_paused"] is False and resumed["next_fire_time"] is not None
    unknown = client.post("/api/schedules/nope/pause", headers=headers)
    assert unknown.status_code == 404 and "no schedule named 'nope'" in unknown.json()["detail"]
