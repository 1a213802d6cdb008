"""Filters and numbers too large to be meant are a 422 naming the parameter, never a 500."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

import ledgerflow as lf
from ledgerflow.engine.flow import Flow

from .conftest import csrf_headers

FlowOf = Callable[[str], Flow[..., object]]
HUGE = "99999999999999999999"


@pytest.mark.parametrize(("path", "params", "detail"), [
    ("/api/runs", {"since": "99999999d"}, "since='99999999d' is too long: at most 10000d"),
    ("/api/runs", {"until": f"{HUGE}d"}, f"until='{HUGE}d' is too long"),
    ("/api/runs", {"since": "9999-12-31T23:00:00-05:00"}, "is out of range"),
    ("/api/run-counts", {"since": "99999999d"}, "since='99999999d' is too long"),
])  # fmt: skip
def test_out_of_range_filters_are_422(
    client: TestClient, path: str, params: dict[str, str], detail: str
) -> None:
    answer = client.get(path, params=params)
    assert answer.status_code == 422, answer.text
    assert detail in answer.json()["detail"]


def test_huge_numbers_are_422(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    run = engine.run(flow("chain"), x=1)
    assert client.get(f"/api/runs/{run.id}/events", params={"after_seq": HUGE}).status_code == 422
    headers = csrf_headers(client)
    assert client.post("/api/limits/gpu", json={"limit": int(HUGE)}, headers=headers).status_code == 422
    assert client.post("/api/limits/gpu", json={"limit": 9999999999}, headers=headers).status_code == 422
    assert client.get("/api/limits").json() == []
