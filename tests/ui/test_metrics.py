"""The web UI's ``/metrics``: the database's figures in Prometheus' text format, behind the
token when one is set."""

from collections.abc import Callable

import ledgerflow as lf
from ledgerflow.engine.flow import Flow

from ..metric_samples import parse, sample
from .conftest import MakeClient

TOKEN = "metrics-token"


def test_metrics_show_the_databases_figures(
    make_client: MakeClient, engine: lf.Engine, flow: Callable[[str], Flow[..., object]]
) -> None:
    engine.submit_flow(flow("fanout"), {}, queue="gpu")
    engine.submit_flow(flow("chain"), {}, queue="gpu")
    engine.set_limit("db", 2)
    engine.storage.workers.register("w1", "host", 1)
    with make_client() as client:
        answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    samples = parse(answer.text)
    assert sample(samples, "ledgerflow_database_up") == 1
    assert sample(samples, "ledgerflow_runs_waiting", queue="gpu") == 2
    assert sample(samples, "ledgerflow_runs_in_progress") == 0
    assert sample(samples, "ledgerflow_limit_slots", tag="db", state="limit") == 2
    age = sample(samples, "ledgerflow_worker_heartbeat_age_seconds", worker="w1")
    assert age is not None and 0 <= age < 60
    assert sample(samples, "process_open_fds") is not None  # the server's own process


def test_with_a_token_metrics_need_it(make_client: MakeClient) -> None:
    with make_client(token=TOKEN) as client:
        refused = client.get("/metrics")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert sample(parse(answer.text), "ledgerflow_database_up") == 1
