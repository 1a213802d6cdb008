"""A tag or schedule name goes into the UI's URLs as one percent-encoded path segment, so a
button acts on that tag or schedule and nothing else; names that cannot be one are refused
(422)."""

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

from fastapi.testclient import TestClient

import ledgerflow as lf
from ledgerflow.engine.flow import Flow
from ledgerflow.storage import schema

from .conftest import csrf_headers

FlowOf = Callable[[str], Flow[..., object]]

HOSTILE_BUT_ALLOWED = ["%2F..%2Fruns%2FRID%2Fcancel", "..%2F", "%2e%2e", "...", "a?b#c", "x y", "ünï"]


def browser_path(action: str) -> str:
    """The path a browser POSTs to for ``action`` on a page of this server: dot segments
    (also percent-encoded ones, as the URL standard reads them) removed."""
    parts = urlsplit(action)
    assert not parts.scheme and not parts.netloc, action
    resolved: list[str] = []
    for segment in parts.path.split("/")[1:]:
        dots = unquote(segment) if segment.lower() in (".", "..", "%2e", "%2e%2e", ".%2e", "%2e.") else None
        if dots == "..":
            resolved = resolved[:-1]
        elif dots != ".":
            resolved.append(segment)
    return "/" + "/".join(resolved)


def actions(page: str, attribute: str) -> dict[str, str]:
    """The ``data-action`` of each row, by the row's ``attribute`` (tag or schedule name)."""
    rows = re.findall(rf'<tr {attribute}="([^"]*)".*?data-action="([^"]*)"', page, re.DOTALL)
    return {html.unescape(name): html.unescape(action) for name, action in rows}


def test_each_set_button_posts_to_its_own_tag(client: TestClient, engine: lf.Engine) -> None:
    for tag in HOSTILE_BUT_ALLOWED:
        engine.set_limit(tag, 5)
    legacy = "../runs/RID/cancel"  # stored before such tags were refused
    with engine.storage.database.begin() as connection:
        row = {"tag": legacy, "limit": 5, "updated_at": datetime.now(UTC)}
        connection.execute(schema.concurrency_limits.insert().values(**row))
    found = actions(client.get("/limits").text, "data-tag")
    assert browser_path(found.pop(legacy)) == "/api/limits/..%2Fruns%2FRID%2Fcancel"
    assert set(found) == set(HOSTILE_BUT_ALLOWED)
    headers = csrf_headers(client)
    for tag, action in found.items():
        path = browser_path(action)
        assert path == f"/api/limits/{quote(tag, safe='')}", (tag, action)
        if "%" not in tag:  # the test client decodes a path twice (a server once)
            answer = client.post(path, json={"limit": 2}, headers=headers)
            assert answer.status_code == 200 and answer.json()["tag"] == tag
    limits = {usage.tag: usage.limit for usage in engine.limits() if usage.tag != legacy}
    assert limits == {tag: 5 if "%" in tag else 2 for tag in HOSTILE_BUT_ALLOWED}


def test_each_pause_button_pauses_its_own_schedule(
    client: TestClient, engine: lf.Engine, flow: FlowOf
) -> None:
    for name in HOSTILE_BUT_ALLOWED:
        engine.schedule(name, flow("fanout"), interval="1h")
    found = actions(client.get("/schedules").text, "data-schedule")
    assert set(found) == set(HOSTILE_BUT_ALLOWED)
    headers = csrf_headers(client)
    for name, action in found.items():
        assert browser_path(action) == f"/api/schedules/{quote(name, safe='')}/pause", (name, action)
        if "%" not in name:  # the test client decodes a path twice (a server once)
            answer = client.post(browser_path(action), headers=headers)
            assert answer.status_code == 200 and answer.json()["name"] == name
    assert {record.name for record in engine.schedules() if record.is_paused} == {
        name for name in HOSTILE_BUT_ALLOWED if "%" not in name
    }


def test_run_links_encode_the_run_id(client: TestClient, engine: lf.Engine, flow: FlowOf) -> None:
    odd = engine.submit_flow(flow("fanout"), {}, run_id="../api/x")  # no engine makes such ids
    assert f'href="/runs/{quote(odd, safe="")}"' in client.get("/runs").text
    other = engine.submit_flow(flow("fanout"), {}, run_id="x?y#z")
    page = client.get(f"/runs/{quote(other, safe='')}").text
    assert f'action="/runs/{quote(other, safe="")}"' in page
    assert f'data-action="/api/runs/{quote(other, safe="")}/cancel"' in page


def test_the_api_refuses_a_tag_that_cannot_be_one(client: TestClient) -> None:
    headers = csrf_headers(client)
    for encoded in ("%20gpu", "a%5Cb", "tab%09", "x%E2%80%8By"):
        refused = client.post(f"/api/limits/{encoded}", json={"limit": 1}, headers=headers)
        assert refused.status_code == 422, (encoded, refused.text)
        assert "tag" in refused.json()["detail"]
    assert client.get("/api/limits").json() == []
