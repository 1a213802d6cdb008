"""The web UI shows each run's queue and priority (Runs list, Run page, JSON API) and says
when a SCHEDULED or CRASHED run waits for its flow's run limit."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

import ledgerflow as lf
from ledgerflow.engine.core.events import NewEvent
from ledgerflow.engine.flow import Flow

from .conftest import csrf_headers

FlowOf = Callable[[str], Flow[..., object]]
WAITING = "waiting for flow limit (1 of 1 running)"


def row_cells(html: str) -> dict[str, list[str]]:
    """The plain cells of each row of the Runs table, by run id."""
    rows = re.findall(r'<tr data-run="([^"]+)"[^>]*>(.*?)</tr>', html, flags=re.S)
    return {run_id: [cell.strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", body, flags=re.S)]
            for run_id, body in rows}  # fmt: skip


def test_runs_and_the_run_page_show_queue_priority_and_flow_limit_waits(
    client: TestClient, engine: lf.Engine, flow: FlowOf
) -> None:
    chain = flow("chain")
    running = engine.submit_flow(chain, {"x": 1}, queue="gpu", priority=10)
    waiting = engine.submit_flow(chain, {"x": 2}, queue="gpu")
    other = engine.submit(flow("fanout"))
    engine.set_limit("flow:chain", 1)
    log = engine.storage.log
    assert log.claim_scheduled("w", 600, queues=["gpu"]) == [running]  # a gpu worker took it
    log.append(running, 1, [NewEvent(None, "run.running", {"owner": "w"})], owner="w")

    listed = {run["id"]: run for run in client.get("/api/runs").json()}
    assert (listed[running]["queue"], listed[running]["priority"]) == ("gpu", 10)
    assert listed[waiting]["waiting_for_flow_limit"] == {"running": 1, "limit": 1}
    assert listed[running]["waiting_for_flow_limit"] is listed[other]["waiting_for_flow_limit"] is None
    in_gpu = client.get("/api/runs", params={"queue": "gpu"}).json()
    assert [run["id"] for run in in_gpu] == [waiting, running]
    assert client.get("/api/run-counts", params={"queue": "default"}).json() == {"SCHEDULED": 1}

    page = client.get("/runs")
    assert page.status_code == 200
    cells = row_cells(page.text)
    assert cells[running][3:5] == ["gpu", "10"] and cells[other][3:5] == ["default", "0"]
    assert WAITING in cells[waiting][2] and WAITING not in cells[other][2]

    detail = client.get(f"/api/runs/{waiting}").json()
    assert (detail["queue"], detail["priority"], detail["max_concurrent_runs"]) == ("gpu", 0, None)
    assert detail["waiting_for_flow_limit"] == {"running": 1, "limit": 1}
    run_page = client.get(f"/runs/{waiting}")
    assert run_page.status_code == 200
    assert WAITING in run_page.text
    assert re.search(r"<th>Queue</th><td>gpu</td>\s*<th>Priority</th><td>0", run_page.text)
    assert client.get(f"/api/runs/{waiting}", params={"seq": 1}).json()["waiting_for_flow_limit"] is None


def test_a_crashed_run_of_a_full_flow_shows_it_waits_for_the_flow_limit(
    client: TestClient, engine: lf.Engine, flow: FlowOf
) -> None:
    crashed, holder = (engine.submit(flow("chain"), x=x) for x in range(2))
    engine.set_limit("flow:chain", 1)
    log, long_ago = engine.storage.log, datetime.now(UTC) - timedelta(minutes=5)
    assert log.claim_scheduled("dead", 60, now=long_ago) == [crashed]  # its worker died since
    log.append(crashed, 1, [NewEvent(None, "run.running", {"owner": "dead"})], owner="dead")
    assert log.claim_scheduled("w", 600) == [holder]
    log.append(holder, 1, [NewEvent(None, "run.running", {"owner": "w"})], owner="w")

    listed = {run["id"]: run for run in client.get("/api/runs").json()}
    assert listed[crashed]["state"] == "CRASHED"
    assert listed[crashed]["waiting_for_flow_limit"] == {"running": 1, "limit": 1}
    assert listed[holder]["waiting_for_flow_limit"] is None
    cells = row_cells(client.get("/runs").text)
    assert "CRASHED" in cells[crashed][2] and WAITING in cells[crashed][2]
    detail = client.get(f"/api/runs/{crashed}").json()
    assert (detail["state"], detail["waiting_for_flow_limit"]) == ("CRASHED", {"running": 1, "limit": 1})
    assert WAITING in client.get(f"/runs/{crashed}").text


def test_the_limits_page_lists_and_changes_flow_run_limits(
    client: TestClient, engine: lf.Engine, flow: FlowOf
) -> None:
    run_ids = [engine.submit(flow("chain"), x=x) for x in range(3)]
    engine.set_limit("flow:chain", 1)
    assert engine.storage.log.claim_scheduled("w", 600) == run_ids[:1]
    assert client.get("/api/flow-limits").json() == [
        {"flow": "chain", "limit": 1, "setting": 1, "recorded": None, "running": 1, "waiting": 2}
    ]
    assert client.get("/api/limits").json() == []
    page = client.get("/limits")
    assert page.status_code == 200 and '<tr data-flow="chain">' in page.text
    assert "/api/limits/flow%3Achain" in page.text and "No concurrency limit" not in page.text
    changed = client.post("/api/limits/flow%3Achain", json={"limit": 3}, headers=csrf_headers(client))
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"tag": "flow:chain", "limit": 3, "in_use": 1, "waiting": []}
    assert engine.storage.log.claim_scheduled("w", 600, limit=5) == run_ids[1:]
