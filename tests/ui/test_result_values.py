"""The web API and the Run page say where each task's result is (store and key, size, format,
sha256) and load a value only on request, through the checked path: an altered, missing or
unreadable result is named with its problem, never shown; a large one is never embedded."""

import hashlib
import html
import re
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from fastapi.testclient import TestClient

import ledgerflow as lf
from ledgerflow.engine.flow import Flow
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.ui.previews import EMBED_BYTES, pretty

from ..cli.locked_store import lock, locked_store
from .conftest import MakeClient

FLOWS = dedent(
    """
    import ledgerflow as lf


    @lf.task
    def rows(n: int) -> list[int]:
        return list(range(n))


    @lf.task
    def count(values: list[int]) -> int:
        return len(values)


    @lf.task
    def firsts(values: list[int]) -> list[int]:
        return values[1:3]


    @lf.task
    def pair(x: int) -> tuple[int, int]:
        return (x, x)  # not JSON: a signed pickle


    @lf.flow
    def table(n: int = 20_000):
        values = rows(n)
        return {"count": count(values), "pairs": pair.map(firsts(values)), "rows": values}
    """
)


@pytest.fixture
def table(tmp_path: Path) -> Flow[..., object]:
    path = tmp_path / "value_flows.py"
    path.write_text(FLOWS)
    return load_flow(f"{path}:table")


@pytest.fixture
def stored(
    database_url: str, isolated: Path, tmp_path: Path, table: Flow[..., object]
) -> Iterator[tuple[lf.Run, str]]:
    """A finished run of ``table`` whose results went to a file:// store; the store's URL."""
    store = (tmp_path / "results").as_uri()
    with lf.Engine(database_url, home=isolated, result_storage=store) as engine:
        run = engine.run(table)
        assert run.state == "SUCCEEDED"
        yield run, store


def value(client: TestClient, run_id: str, task: str, **params: Any) -> dict[str, Any]:
    answer = client.get(f"/api/runs/{run_id}/result", params={"task": task, **params})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert isinstance(found, dict)
    return found


def test_the_api_says_where_each_result_is(client: TestClient, stored: tuple[lf.Run, str]) -> None:
    run, store = stored
    rows = run.tasks["rows"].result
    assert rows is not None
    tasks = {task["key"]: task for task in client.get(f"/api/runs/{run.id}").json()["tasks"]}
    assert tasks["rows"]["result"] == {
        "kind": "store", "where": store, "store": store, "key": rows["ref"], "url": f"{store}/{rows['ref']}",
        "format": "json", "compression": None, "size": rows["size"],
        "size_text": f"{rows['size'] / 1024:.1f} KiB", "sha256": rows["sha256"],
    }  # fmt: skip
    assert tasks["count"]["result"]["kind"] == "inline" and tasks["count"]["result"]["sha256"] is None
    [pair] = client.get(f"/api/runs/{run.id}/tasks", params={"parent": "pair"}).json()["tasks"][:1]
    assert pair["result"]["format"] == "pickle" and len(pair["result"]["sha256"]) == 64


def test_a_value_is_loaded_on_request_and_checked(client: TestClient, stored: tuple[lf.Run, str]) -> None:
    run, _ = stored
    rows = value(client, run.id, "rows")
    assert rows["problem"] is None and rows["text"].startswith("[\n  0,\n  1,")
    assert rows["note"].startswith("showing the first ")  # bounded
    assert value(client, run.id, "pair[1]") == {"text": pretty((2, 2)), "note": None, "problem": None}
    assert value(client, run.id, "count")["text"] == "20000"


def test_an_altered_or_missing_object_is_named_with_its_hashes(
    client: TestClient, stored: tuple[lf.Run, str], tmp_path: Path
) -> None:
    run, store = stored
    rows, pair = run.tasks["rows"].result, run.tasks["pair[0]"].result
    assert rows is not None and pair is not None
    altered = tmp_path / "results" / rows["ref"]
    altered.write_bytes(altered.read_bytes().replace(b"19999", b"99999"))
    found = hashlib.sha256(altered.read_bytes()).hexdigest()
    shown = value(client, run.id, "rows")
    assert shown["text"] is None and shown["note"].startswith("this server cannot load it: ")
    assert shown["problem"] == {
        "kind": "corrupted", "task_key": "rows", "ref": rows["ref"], "store": store,
        "expected_sha256": rows["sha256"], "found_sha256": found, "message": shown["problem"]["message"],
    }  # fmt: skip
    assert (
        f"the event records sha256 {rows['sha256']}, the store holds {found}" in shown["problem"]["message"]
    )
    (tmp_path / "results" / pair["ref"]).unlink()
    missing = value(client, run.id, "pair")  # a map's value: the list of its children's
    assert missing["problem"]["kind"] == "missing" and missing["problem"]["task_key"] == "pair[0]"
    assert f"nothing is stored under '{pair['ref']}'" in missing["note"]


def test_a_store_the_server_cannot_read_is_named(
    client: TestClient,
    database_url: str,
    isolated: Path,
    table: Flow[..., object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = locked_store(monkeypatch)
    with lf.Engine(database_url, home=isolated, result_storage=store) as engine:
        run = engine.run(table, n=10)
    lock(monkeypatch)
    shown = value(client, run.id, "pair[0]")
    assert shown["problem"]["kind"] == "unreadable" and shown["problem"]["store"] == store
    assert "PermissionError: Access Denied: no credentials" in shown["problem"]["message"]
    page = client.get(f"/runs/{run.id}", params={"task": "pair[0]"}).text  # small: loaded with the page
    assert 'data-problem="unreadable"' in page and "Access Denied" in page


def test_values_are_under_the_token(make_client: MakeClient, stored: tuple[lf.Run, str]) -> None:
    run, _ = stored
    with make_client(token="s3cret") as client:
        assert client.get(f"/api/runs/{run.id}/result", params={"task": "rows"}).status_code == 401
        bearer = {"Authorization": "Bearer s3cret"}
        assert (
            client.get(f"/api/runs/{run.id}/result", params={"task": "rows"}, headers=bearer).status_code
            == 200
        )


def test_the_task_panel_shows_where_and_loads_a_large_value_only_on_request(
    client: TestClient, stored: tuple[lf.Run, str]
) -> None:
    run, store = stored
    rows = run.tasks["rows"].result
    assert rows is not None and rows["size"] > EMBED_BYTES
    page = client.get(f"/runs/{run.id}", params={"task": "rows"}).text
    panel = page[page.index('id="task"') :]
    assert (
        f'<code class="where">{store}</code>' in panel and f'<code class="key">{rows["ref"]}</code>' in panel
    )
    assert f'<code class="hash full" id="task-result-sha256">{rows["sha256"]}</code>' in panel
    assert f'data-copy="{rows["sha256"]}"' in panel and f"({rows['size']:,} bytes)" in panel
    assert 'id="task-result"' not in page and "19999" not in page  # not embedded
    button = re.search(r'<button[^>]*data-value-url="([^"]+)"[^>]*>Show value</button>', panel)
    assert button is not None
    assert client.get(html.unescape(button.group(1))).json()["text"].startswith("[\n  0,")
    assert "Show result" in page  # the run's result gathers it: on request too
    small = client.get(f"/runs/{run.id}", params={"task": "pair[0]"}).text
    assert 'id="task-result"' in small and "Show value" not in small  # small: embedded


def test_a_point_in_time_page_loads_the_value_of_that_time(
    client: TestClient, stored: tuple[lf.Run, str]
) -> None:
    run, _ = stored
    page = client.get(f"/runs/{run.id}", params={"task": "rows", "seq": 4}).text
    button = re.search(r'data-value-url="([^"]+)"', page)
    assert button is not None and html.unescape(button.group(1)).endswith("task=rows&seq=4")
    assert value(client, run.id, "rows", seq=2)["note"] == "no result: it is PENDING"
