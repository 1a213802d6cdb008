"""The runs list pages through older runs (``before``: the last run of the page before) in the
JSON API (a ``Link`` header names the next page) and on the Runs page ("Older runs"); counts by
state stop at a bound."""

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

import ledgerflow as lf
from ledgerflow.engine.flow import Flow
from ledgerflow.ui import pages

FlowOf = Callable[[str], Flow[..., object]]


def submitted(engine: lf.Engine, flow: FlowOf, count: int) -> list[str]:
    """Ids of ``count`` runs submitted one after the other, newest first."""
    return [engine.submit(flow("chain"), x=x) for x in range(count)][::-1]


def test_the_api_pages_through_the_runs_with_a_link_to_the_next_page(
    client: TestClient, engine: lf.Engine, flow: FlowOf
) -> None:
    newest_first = submitted(engine, flow, 5)
    pages_seen, url = [], "/api/runs?limit=2&state=scheduled"
    while url:
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        pages_seen.append([run["id"] for run in answer.json()])
        link = answer.headers.get("link")
        url = re.fullmatch(r'<http://[^/]+(/api/runs\?[^>]+)>; rel="next"', link).group(1) if link else ""
    assert pages_seen == [newest_first[:2], newest_first[2:4], newest_first[4:]]
    after = client.get("/api/runs", params={"before": newest_first[0], "limit": 10}).json()
    assert [run["id"] for run in after] == newest_first[1:]
    unknown = client.get("/api/runs", params={"before": "no-such-run"})
    assert unknown.status_code == 422 and "before='no-such-run'" in unknown.json()["detail"]


def test_run_counts_stop_at_at_most(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    submitted(engine, flow, 3)
    assert client.get("/api/run-counts").json() == {"SCHEDULED": 3}
    assert client.get("/api/run-counts", params={"at_most": 1}).json() == {"SCHEDULED": 2}  # more than 1
    assert client.get("/api/run-counts", params={"at_most": -1}).status_code == 422


def test_the_runs_page_links_to_older_runs_and_back_to_the_newest(
    client: TestClient, engine: lf.Engine, flow: FlowOf, monkeypatch: pytest.MonkeyPatch
) -> None:
    newest_first = submitted(engine, flow, 3)
    monkeypatch.setattr(pages, "COUNT_BOUND", 2)
    first = client.get("/runs", params={"limit": 2, "flow": "chain"}).text
    assert [run for run in newest_first if f'data-run="{run}"' in first] == newest_first[:2]
    assert re.search(r'data-state="SCHEDULED"[^>]*><b>2\+</b> scheduled', first)  # 3: past the bound
    older = re.search(r'<a href="([^"]+)" rel="next">Older runs</a>', first)
    assert older is not None and 'rel="first"' not in first
    second = client.get(older.group(1).replace("&amp;", "&")).text
    assert [run for run in newest_first if f'data-run="{run}"' in second] == newest_first[2:]
    assert 'rel="next"' not in second
    newest = re.search(r'<a href="([^"]+)" rel="first">Newest runs</a>', second)
    assert newest is not None and newest.group(1).replace("&amp;", "&") == "/runs?limit=2&flow=chain"
    gone = client.get("/runs", params={"before": "no-such-run"})
    assert gone.status_code == 422 and "no run with this id" in gone.text
