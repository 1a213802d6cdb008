"""The web API names a run's id ``id`` in run summaries and details (``run_id`` kept)."""

from collections.abc import Callable

from fastapi.testclient import TestClient

import ledgerflow as lf
from ledgerflow.engine.flow import Flow


def test_runs_and_a_run_have_id_and_run_id(
    client: TestClient, engine: lf.Engine, flow: Callable[[str], Flow[..., object]]
) -> None:
    run = engine.run(flow("fanout"), n=1)
    [listed] = client.get("/api/runs").json()
    assert listed["id"] == listed["run_id"] == run.id
    detail = client.get(f"/api/runs/{run.id}").json()
    assert detail["id"] == detail["run_id"] == run.id
