"""The server-rendered pages: what they show, their fragments for live updates, login,
refusals, and an archived run's tombstone."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

import ledgerflow as lf
from ledgerflow.engine.flow import Flow
from ledgerflow.storage import WorkerRegistry

from .conftest import MakeClient

FlowOf = Callable[[str], Flow[..., object]]


def failed_chain(engine: lf.Engine, flow: FlowOf, flows_dir: Path) -> lf.Run:
    (flows_dir / "break").touch()
    run = engine.run(flow("chain"), x=7)
    assert run.state == "FAILED"
    return run


def test_runs_page_lists_runs_with_counts_and_durations(
    client: TestClient, engine: lf.Engine, flow: FlowOf, flows_dir: Path
) -> None:
    good = engine.run(flow("fanout"), n=2)
    bad = failed_chain(engine, flow, flows_dir)
    page = client.get("/runs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'data-run="{good.id}" data-state="SUCCEEDED"' in page.text
    assert f'data-run="{bad.id}" data-state="FAILED"' in page.text
    assert re.search(r'class="count st-FAILED" data-state="FAILED"[^>]*><b>1</b>', page.text)
    assert re.search(r'class="count st-SUCCEEDED" data-state="SUCCEEDED"[^>]*><b>1</b>', page.text)
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text  # nothing fetched from elsewhere


def test_runs_page_filters_and_explains_a_malformed_filter(
    client: TestClient, engine: lf.Engine, flow: FlowOf, flows_dir: Path
) -> None:
    good = engine.run(flow("fanout"), n=2)
    bad = failed_chain(engine, flow, flows_dir)
    failed_only = client.get("/runs", params={"state": "failed"}).text
    assert bad.id in failed_only and good.id not in failed_only
    by_flow = client.get("/runs", params={"flow": "fanout"}).text
    assert good.id in by_flow and bad.id not in by_flow
    malformed = client.get("/runs", params={"since": "yesterday-ish"})
    assert malformed.status_code == 422 and "since=&#39;yesterday-ish&#39; is neither" in malformed.text


def test_run_page_shows_the_failed_task_its_error_log_and_verified_events(
    client: TestClient, engine: lf.Engine, flow: FlowOf, flows_dir: Path
) -> None:
    run = failed_chain(engine, flow, flows_dir)
    page = client.get(f"/runs/{run.id}", params={"task": "fragile"})
    assert page.status_code == 200
    text = page.text
    assert 'data-key="fragile" data-state="FAILED"' in text  # the DAG node, coloured by state
    assert 'data-key="double" data-state="UPSTREAM_FAILED"' in text
    assert '<tr data-task="fragile" data-state="FAILED" class="selected">' in text
    assert "RuntimeError</b>: broken at 7" in text and "Traceback" in text
    assert 'data-verified="true"' in text and f"all {len(engine.events(run.id))} events" in text
    assert 'data-action="/api/runs/' in text and "Restart run" in text and "Restart from fragile" in text
    assert '<section class="panel" id="parameters">' in text and "<th>x</th>" in text


def test_run_page_shows_a_tasks_log_and_lineage(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    run = engine.run(flow("fanout"), n=4)
    text = client.get(f"/runs/{run.id}", params={"task": "total"}).text
    assert "adding 4 values" in text
    assert 'class="grid lineage"' in text and ">double[3]<" in text.replace("</code>", "<")


def test_run_page_aggregates_a_map_and_expands_it_by_pages(
    client: TestClient, engine: lf.Engine, flow: FlowOf
) -> None:
    run = engine.run(flow("fanout"), n=250)
    text = client.get(f"/runs/{run.id}").text
    assert text.count('data-key="double[') == 0  # the children are one group node
    assert 'data-map="double"' in text and "250 children" in text
    expanded = client.get(f"/runs/{run.id}", params={"expand": "double", "child_offset": 200}).text
    rows = re.findall(r'<tr data-task="(double\[\d+\])"', expanded)
    assert rows == [f"double[{i}]" for i in range(200, 250)]
    assert "201\N{EN DASH}250 of 250" in expanded


def test_run_page_as_of_a_seq_and_a_time(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    run = engine.run(flow("chain"))
    events = engine.events(run.id)
    first = client.get(f"/runs/{run.id}", params={"seq": 1}).text
    assert 'data-state="PENDING" data-seq="1"' in first and "As it was after event <b>1</b>" in first
    assert 'data-stream=' not in first and "Restart run" not in first  # the past is neither live nor acted on
    at_end = client.get(f"/runs/{run.id}", params={"at": events[-1].ts.isoformat()}).text
    assert f'data-state="SUCCEEDED" data-seq="{len(events)}"' in at_end
    before = (events[0].ts - timedelta(days=1)).isoformat()
    refused = client.get(f"/runs/{run.id}", params={"at": before})
    assert refused.status_code == 422 and "no events at that point" in refused.text


def test_fragment_is_the_body_alone(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    run = engine.run(flow("chain"))
    fragment = client.get(f"/runs/{run.id}", params={"fragment": 1}).text
    assert "<html" not in fragment and f'data-run="{run.id}"' in fragment
    assert "<html" not in client.get("/runs", params={"fragment": 1}).text


def test_unknown_run_is_404_and_an_archived_one_shows_its_tombstone(
    client: TestClient, engine: lf.Engine, flow: FlowOf, tmp_path: Path
) -> None:
    missing = client.get("/runs/nope")
    assert missing.status_code == 404 and "no run with this id" in missing.text
    run = engine.run(flow("chain"))
    plan = engine.plan_archive(timedelta(0), now=datetime.now(UTC) + timedelta(seconds=1))
    engine.archive(plan, tmp_path / "archive")
    archived = client.get(f"/runs/{run.id}")
    tombstone = engine.archived_run(run.id)
    assert archived.status_code == 410 and tombstone is not None
    assert "archived" in archived.text and tombstone.head_hash in archived.text
    assert tombstone.file_name in archived.text and tombstone.file_sha256 in archived.text


def test_workers_limits_and_schedules_pages(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    assert "No worker has registered" in client.get("/workers").text
    registry = WorkerRegistry(engine.storage.database)
    registry.register("w1", "box", 4242, max_runs=20, queues=["gpu", "default"])
    registry.heartbeat("w1", in_flight=3)
    workers = client.get("/workers").text
    assert 'data-in-flight="3">3 / 20</td>' in workers and "<td>gpu, default</td>" in workers
    engine.set_limit("db", 2)
    limits = client.get("/limits").text
    assert 'data-tag="db"' in limits and 'data-action="/api/limits/db"' in limits
    engine.schedule("nightly", flow("chain"), cron="0 3 * * *", tz="Europe/Berlin")
    engine.pause_schedule("nightly")
    schedules = client.get("/schedules").text
    assert 'data-schedule="nightly" data-paused="true"' in schedules
    assert 'data-action="/api/schedules/nightly/resume"' in schedules


def test_pages_with_a_token_redirect_to_login_and_work_after_it(
    make_client: MakeClient, engine: lf.Engine, flow: FlowOf
) -> None:
    run = engine.run(flow("chain"))
    with make_client(token="s3cret") as client:
        browser = {"Accept": "text/html,application/xhtml+xml"}
        refused = client.get(f"/runs/{run.id}", headers=browser, follow_redirects=False)
        assert refused.status_code == 303
        assert refused.headers["location"] == f"/login?next=%2Fruns%2F{run.id}"
        assert client.get(f"/runs/{run.id}").status_code == 401  # a program is told, not redirected
        assert client.get("/static/app.css").status_code == 200  # no data in it
        assert client.get("/login").status_code == 200
        assert client.post("/login", json={"token": "s3cret"}).status_code == 200
        page = client.get(f"/runs/{run.id}")
        assert page.status_code == 200 and 'data-state="SUCCEEDED"' in page.text
        match = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page.text)
        assert match is not None
        cancel = client.post(f"/api/runs/{run.id}/cancel", headers={"X-CSRF-Token": match[1]})
        assert cancel.status_code == 200 and cancel.json()["was_finished"] is True


def test_login_page_only_sends_back_to_this_site(make_client: MakeClient) -> None:
    with make_client(token="s3cret") as client:
        page = client.get("/login", params={"next": "//evil.example/x"}).text
        assert 'data-next="/"' in page


def test_the_login_page_gives_no_session_without_the_token(make_client: MakeClient) -> None:
    with make_client(token="s3cret") as client:
        page = client.get("/login")
        assert page.status_code == 200 and "set-cookie" not in page.headers
        assert '<meta name="csrf-token" content="">' in page.text
        assert client.get("/api/runs").status_code == 401
        assert client.get("/runs").status_code == 401


def test_what_a_run_recorded_is_escaped_on_the_page(
    client: TestClient, engine: lf.Engine, flow: FlowOf, flows_dir: Path
) -> None:
    (flows_dir / "break").touch()
    run = engine.run(flow("chain"), x="<script>alert(1)</script>")
    text = client.get(f"/runs/{run.id}", params={"task": "fragile"}).text
    assert "<script>alert" not in text
    assert "broken at &lt;script&gt;alert(1)&lt;/script&gt;" in text
