"""The Run page shows a preview of the run's result and of a selected task's: pretty,
escaped and bounded, or a note when this server cannot load it."""

import html
import re
import sys
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest
from fastapi.testclient import TestClient

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.ui.previews import MAX_CHARS, bounded, pretty

FLOWS = dedent(
    '''
    import ledgerflow as lf
    from preview_shapes import Model


    @lf.task
    def score(name: str) -> dict:
        return {"best": name, "roc_auc": 0.91}


    @lf.task
    def square(x: int) -> int:
        return x * x


    @lf.task
    def many(n: int) -> list[int]:
        return list(range(n))


    @lf.task
    def fit() -> Model:
        return Model("forest")


    @lf.flow
    def report(name: str = "<b>forest</b>"):
        return {"score": score(name), "squares": square.map(many(4))}


    @lf.flow
    def long(n: int = 5000):
        return many(n)


    @lf.flow
    def model():
        return fit()
    '''
)
SHAPES = dedent(
    '''
    class Model:
        def __init__(self, name):
            self.name = name
    '''
)


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    folder = tmp_path / "preview_flows"
    folder.mkdir()
    (folder / "preview_shapes.py").write_text(SHAPES)
    (folder / "preview_flows.py").write_text(FLOWS)
    return folder / "preview_flows.py"


def section(page: str, anchor: str) -> str:
    """The element with id ``anchor``: up to the end of its section, or of its ``pre``."""
    end = "section" if anchor == "result" else "pre"
    found = re.search(rf'id="{anchor}".*?</{end}>', page, re.DOTALL)
    assert found is not None, page
    return found.group(0)


def test_the_run_page_shows_the_result_and_a_tasks_result(
    client: TestClient, engine: lf.Engine, flows: Path
) -> None:
    run = engine.run(load_flow(f"{flows}:report"))
    page = client.get(f"/runs/{run.id}").text
    shown = section(page, "result")
    assert "&lt;b&gt;forest&lt;/b&gt;" in shown and "<b>forest" not in shown  # escaped
    text = html.unescape(re.search(r"<pre[^>]*>(.*?)</pre>", shown, re.DOTALL).group(1))  # type: ignore[union-attr]
    assert text == pretty({"score": {"best": "<b>forest</b>", "roc_auc": 0.91}, "squares": [0, 1, 4, 9]})
    assert '"roc_auc": 0.91' in text and "\n" in text  # indented JSON
    task = section(client.get(f"/runs/{run.id}?task=score").text, "task-result")
    assert "&#34;roc_auc&#34;: 0.91" in task or "&quot;roc_auc&quot;: 0.91" in task
    mapped = html.unescape(section(client.get(f"/runs/{run.id}?task=square").text, "task-result"))
    assert re.sub(r"\s", "", mapped).endswith("[0,1,4,9]</pre>")  # a dynamic map: its children's


def test_a_long_result_is_cut_at_a_line_with_a_note(
    client: TestClient, engine: lf.Engine, flows: Path
) -> None:
    run = engine.run(load_flow(f"{flows}:long"))
    shown = section(client.get(f"/runs/{run.id}").text, "result")
    assert f"of {len(pretty(list(range(5000)))):,} characters" in shown
    text = html.unescape(re.search(r"<pre[^>]*>(.*?)</pre>", shown, re.DOTALL).group(1))  # type: ignore[union-attr]
    assert len(text) <= MAX_CHARS and text.endswith(",")  # whole lines only


def test_a_result_this_server_cannot_load_gets_a_note(
    client: TestClient, engine: lf.Engine, flows: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = engine.run(load_flow(f"{flows}:model"))
    assert run.result().name == "forest"
    monkeypatch.delitem(sys.modules, "preview_shapes")  # as on a server without the module
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if not entry.endswith("preview_flows")])
    page = client.get(f"/runs/{run.id}?task=fit")
    assert page.status_code == 200
    assert "this server cannot load it" in section(page.text, "result")
    assert "preview_shapes" in page.text


def test_a_failed_run_shows_no_result(
    client: TestClient, engine: lf.Engine, flows_dir: Path, flow: Callable[[str], lf.Flow[..., object]]
) -> None:
    (flows_dir / "break").write_text("")
    failed = engine.run(flow("chain"))
    assert failed.state == "FAILED"
    page = client.get(f"/runs/{failed.id}?task=fragile").text
    assert "broken at 1" in page
    assert 'id="result"' not in page and 'id="task-result"' not in page


def test_pretty_and_bounded() -> None:
    assert pretty({"a": [1, 2]}) == '{\n  "a": [\n    1,\n    2\n  ]\n}'
    assert pretty({1, 2}) == "{1, 2}"  # not JSON: as pprint shows it
    preview = bounded("one\ntwo\nthree", limit=9)
    assert preview.text == "one\ntwo" and preview.note == "showing the first 7 of 13 characters"
    assert bounded("short").note is None


def test_the_json_api_gives_the_same_preview(client: TestClient, engine: lf.Engine, flows: Path) -> None:
    run = engine.run(load_flow(f"{flows}:report"))
    expected = {"score": {"best": "<b>forest</b>", "roc_auc": 0.91}, "squares": [0, 1, 4, 9]}
    answer = client.get(f"/api/runs/{run.id}/result").json()
    assert answer == {"text": pretty(expected), "note": None, "problem": None}
    many = client.get(f"/api/runs/{run.id}/result", params={"task": "many"}).json()
    assert many["text"] == pretty([0, 1, 2, 3])
    assert client.get(f"/api/runs/{run.id}/result", params={"task": "nope"}).status_code == 404
    assert client.get("/api/runs/nope/result").status_code == 404
