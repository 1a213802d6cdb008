"""The read side of the web API: runs, filters, a run aggregated, point in time, tasks,
events, logs, lineage, workers, limits, schedules, the OpenAPI schema, and bad input."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import orjson
from fastapi.testclient import TestClient

import ledgerflow as lf
from ledgerflow.engine.flow import Flow
from ledgerflow.storage import WorkerRegistry

FlowOf = Callable[[str], Flow[..., object]]


def test_runs_lists_newest_first_with_filters(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    first = engine.run(flow("fanout"), n=2)
    second = engine.run(flow("chain"), x=3)
    listed = client.get("/api/runs").json()
    assert [run["run_id"] for run in listed] == [second.id, first.id]
    assert listed[0]["state"] == "SUCCEEDED" and listed[0]["is_finished"] and listed[0]["events"] > 1
    assert [r["run_id"] for r in client.get("/api/runs", params={"flow": "fanout"}).json()] == [first.id]
    assert len(client.get("/api/runs", params={"limit": 1}).json()) == 1
    assert client.get("/api/runs", params={"state": "failed,crashed"}).json() == []
    assert len(client.get("/api/runs", params={"state": "succeeded", "since": "1d"}).json()) == 2
    assert client.get("/api/runs", params={"until": "2000-01-01T00:00:00Z"}).json() == []


def test_malformed_run_filters_are_422_naming_the_parameter(client: TestClient) -> None:
    answer = client.get("/api/runs", params={"state": "SUCCEEDED,DONE"})
    assert answer.status_code == 422
    assert "DONE is not a run state" in answer.json()["detail"]
    answer = client.get("/api/runs", params={"since": "yesterday"})
    assert answer.status_code == 422 and answer.json()["detail"].startswith("since='yesterday'")
    assert client.get("/api/runs", params={"limit": 0}).status_code == 422
    assert client.get("/api/runs", params={"limit": "many"}).status_code == 422


def test_unknown_run_is_404_with_a_message(client: TestClient) -> None:
    for path in ("", "/tasks", "/events", "/logs", "/lineage/total"):
        answer = client.get(f"/api/runs/no-such-run{path}")
        assert answer.status_code == 404, path
        assert answer.json() == {
            "detail": "no run with id 'no-such-run' in this database (see `ledgerflow runs`)"
        }


def test_run_detail_aggregates_a_10000_way_map(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    run = engine.run(flow("fanout"), n=10_000)
    answer = client.get(f"/api/runs/{run.id}")
    assert answer.status_code == 200
    detail = answer.json()
    assert len(answer.content) < 20_000  # never the 10,000 children
    assert detail["state"] == "SUCCEEDED" and detail["task_count"] == 10_003
    assert detail["parameters"] == {"n": 10_000}
    assert detail["counts"] == {"SUCCEEDED": 10_002, "MAPPED": 1}
    assert [task["key"] for task in detail["tasks"]] == ["numbers", "double", "total"]
    assert detail["maps"] == [{
        "parent": "double", "parent_state": "MAPPED", "children": 10_000,
        "counts": {"SUCCEEDED": 10_000}, "max_duration_s": detail["maps"][0]["max_duration_s"],
    }]  # fmt: skip
    assert detail["verification"] is None and detail["seq"] == detail["head_seq"]
    page = client.get(f"/api/runs/{run.id}/tasks", params={"parent": "double", "offset": 9_998}).json()
    assert page["total"] == 10_000 and [t["key"] for t in page["tasks"]] == ["double[9998]", "double[9999]"]
    limited = client.get(f"/api/runs/{run.id}/tasks", params={"parent": "double", "limit": 5}).json()
    assert [t["key"] for t in limited["tasks"]] == [f"double[{i}]" for i in range(5)]


def test_run_detail_verifies_on_request(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    run = engine.run(flow("chain"))
    verification = client.get(f"/api/runs/{run.id}", params={"verify": 1}).json()["verification"]
    assert verification["ok"] is True and verification["first_bad_seq"] is None
    assert verification["events_checked"] == len(engine.events(run.id))


def test_point_in_time_by_seq_and_by_time(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    run = engine.run(flow("chain"))
    events = engine.events(run.id)
    at_start = client.get(f"/api/runs/{run.id}", params={"seq": 1}).json()
    assert at_start["seq"] == 1 and at_start["head_seq"] == len(events) and at_start["is_point_in_time"]
    assert at_start["state"] == "PENDING" and at_start["counts"] == {"PENDING": 2}
    moment = events[-1].ts.isoformat()
    at_end = client.get(f"/api/runs/{run.id}", params={"at": moment}).json()
    assert at_end["seq"] == len(events) and at_end["state"] == "SUCCEEDED"


def test_malformed_points_in_time_are_422(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    run = engine.run(flow("chain"))
    before = (engine.events(run.id)[0].ts - timedelta(days=1)).isoformat()
    for params in ({"seq": 0}, {"at": "noon"}, {"seq": 1, "at": before}, {"at": before}):
        answer = client.get(f"/api/runs/{run.id}", params=params)
        assert answer.status_code == 422, params
    assert "no events at that point" in client.get(f"/api/runs/{run.id}", params={"at": before}).text


def test_tasks_filter_by_state_and_refuse_bad_input(
    client: TestClient, engine: lf.Engine, flow: FlowOf
) -> None:
    run = engine.run(flow("fanout"), n=3)
    page = client.get(f"/api/runs/{run.id}/tasks", params={"state": "mapped"}).json()
    assert [task["key"] for task in page["tasks"]] == ["double"] and page["tasks"][0]["map_count"] == 3
    assert client.get(f"/api/runs/{run.id}/tasks").json()["total"] == 6
    assert client.get(f"/api/runs/{run.id}/tasks", params={"state": "DONE"}).status_code == 422
    assert client.get(f"/api/runs/{run.id}/tasks", params={"offset": -1}).status_code == 422
    missing = client.get(f"/api/runs/{run.id}/tasks", params={"parent": "nothing"})
    assert missing.status_code == 404 and "no task or map 'nothing'" in missing.json()["detail"]


def test_events_are_paged_with_their_hash_chain(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    run = engine.run(flow("chain"))
    head = len(engine.events(run.id))
    first = client.get(f"/api/runs/{run.id}/events", params={"limit": 2}).json()
    assert [e["seq"] for e in first["events"]] == [1, 2] and first["next_after_seq"] == 2
    assert first["events"][0]["type"] == "run.created"
    assert first["events"][1]["prev_hash"] == first["events"][0]["hash"]
    rest = client.get(f"/api/runs/{run.id}/events", params={"after_seq": 2}).json()
    assert rest["events"][0]["seq"] == 3 and rest["events"][-1]["seq"] == head
    assert rest["next_after_seq"] is None and rest["head_seq"] == head
    assert rest["events"][0]["prev_hash"] == first["events"][1]["hash"]


def test_logs_by_task_and_attempt(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    run = engine.run(flow("fanout"), n=4)
    lines = client.get(f"/api/runs/{run.id}/logs", params={"task": "total"}).json()
    assert [(line["task_key"], line["attempt"], line["message"]) for line in lines] == [
        ("total", 1, "adding 4 values")
    ]
    assert client.get(f"/api/runs/{run.id}/logs", params={"task": "total", "attempt": 2}).json() == []
    assert client.get(f"/api/runs/{run.id}/logs", params={"attempt": 0}).status_code == 422


def test_lineage_of_a_task(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    run = engine.run(flow("chain"), x=5)
    found = client.get(f"/api/runs/{run.id}/lineage/double").json()
    assert found["task_key"] == "double" and [t["key"] for t in found["tasks"]] == ["double", "fragile"]
    assert found["tasks"][0]["inputs"] == [{"task_key": "fragile", "index": None}]
    assert found["tasks"][1]["from_parameters"] is True
    unknown = client.get(f"/api/runs/{run.id}/lineage/nope")
    assert unknown.status_code == 404 and "has no task 'nope'" in unknown.json()["detail"]


def test_workers_limits_and_schedules(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    registry = WorkerRegistry(engine.storage.database)
    registry.register("w1", "box", 4242, max_runs=20, queues=["gpu", "default"])
    registry.heartbeat("w1", runs_driven=5, in_flight=3)
    engine.set_limit("gpu", 2)
    engine.schedule("nightly", flow("fanout"), interval="1h", parameters={"n": 2})
    workers = client.get("/api/workers").json()
    assert [(w["name"], w["host"], w["pid"], w["healthy"]) for w in workers] == [("w1", "box", 4242, True)]
    assert workers[0]["heartbeat_age_s"] < 60
    assert {key: workers[0][key] for key in ("in_flight", "max_runs", "queues", "runs_driven")} == {
        "in_flight": 3, "max_runs": 20, "queues": ["gpu", "default"], "runs_driven": 5,
    }  # fmt: skip
    assert client.get("/api/limits").json() == [{"tag": "gpu", "limit": 2, "in_use": 0, "waiting": []}]
    (schedule,) = client.get("/api/schedules").json()
    assert schedule["name"] == "nightly" and schedule["interval_seconds"] == 3600
    assert schedule["parameters"] == {"n": 2} and not schedule["is_paused"] and schedule["next_fire_time"]


def test_openapi_schema_lists_the_endpoints(client: TestClient) -> None:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    schema = orjson.loads(answer.content)
    assert {
        "/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/tasks", "/api/runs/{run_id}/events",
        "/api/runs/{run_id}/logs", "/api/runs/{run_id}/lineage/{task_key}", "/api/workers",
        "/api/limits", "/api/schedules", "/api/runs/{run_id}/cancel", "/api/runs/{run_id}/restart",
        "/api/runs/{run_id}/resume", "/api/limits/{tag}", "/api/schedules/{name}/pause",
        "/api/schedules/{name}/resume", "/api/csrf", "/login",
    } <= set(schema["paths"])
    cancel = schema["paths"]["/api/runs/{run_id}/cancel"]["post"]
    assert "X-CSRF-Token" in {parameter["name"] for parameter in cancel["parameters"]}
    assert "RunDetailOut" in schema["components"]["schemas"]
    assert client.get("/docs").status_code == 404  # its scripts would come from a CDN


def test_run_counts_by_state_with_filters(
    client: TestClient, engine: lf.Engine, flow: FlowOf, flows_dir: Path
) -> None:
    engine.run(flow("fanout"), n=2)
    engine.run(flow("fanout"), n=3)
    (flows_dir / "break").touch()
    engine.run(flow("chain"))
    assert client.get("/api/run-counts").json() == {"SUCCEEDED": 2, "FAILED": 1}
    assert client.get("/api/run-counts", params={"flow": "chain"}).json() == {"FAILED": 1}
    assert client.get("/api/run-counts", params={"since": "0s"}).json() == {}
    assert client.get("/api/run-counts", params={"until": "soon"}).status_code == 422
