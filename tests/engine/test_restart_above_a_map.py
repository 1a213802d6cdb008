"""A restart above a dynamic map: the map expands again, its earlier children are
superseded, and attempt numbers (so idempotency keys and result refs) never repeat."""

import textwrap
from collections import Counter
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.engine.core.fold import fold
from ledgerflow.engine.core.states import TaskState
from ledgerflow.engine.flow_ref import load_flow

FLOW_SOURCE = textwrap.dedent(
    """
    import os
    from pathlib import Path
    import ledgerflow as lf

    HERE = Path(os.environ["MAP_DIR"])

    @lf.task
    def items() -> list[str]:
        n = int((HERE / "n").read_text())
        return [f"{i}-of-{n}" for i in range(n)]

    @lf.task
    def work(item: str) -> str:
        with (HERE / "keys").open("a") as out:
            out.write(lf.context().idempotency_key + "\\n")
        return item * 200  # large: stored by reference, under run/task/attempt

    @lf.task
    def total(done: list[str]) -> list[str]:
        return [d[:6] for d in done]

    @lf.flow
    def fan():
        return total(work.map(items()))
    """
)


@pytest.fixture
def flow_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "fan_flow.py").write_text(FLOW_SOURCE)
    monkeypatch.setenv("MAP_DIR", str(tmp_path))
    return tmp_path


def _keys(flow_dir: Path) -> list[str]:
    return (flow_dir / "keys").read_text().split()


def _starts(engine: lf.Engine, run_id: str) -> Counter[tuple[str | None, int]]:
    return Counter(
        (e.task_key, e.payload["attempt"]) for e in engine.events(run_id) if e.type == "task.running"
    )


def test_a_restart_above_a_map_with_a_shorter_list_succeeds_with_the_new_list(
    database_url: str, flow_dir: Path
) -> None:
    (flow_dir / "n").write_text("3")
    with lf.Engine(database_url, home=flow_dir) as engine:
        first = engine.run(load_flow(f"{flow_dir / 'fan_flow.py'}:fan"))
        assert first.result() == ["0-of-3", "1-of-3", "2-of-3"]
        (flow_dir / "n").write_text("2")
        again = engine.restart(first.id, from_task="items")
        assert again.state == "SUCCEEDED" and again.result() == ["0-of-2", "1-of-2"]
        assert [key for key in again.tasks if key.startswith("work[")] == ["work[0]", "work[1]"]
        assert again.tasks["work[0]"].attempts == again.tasks["work[1]"].attempts == 2
        stored = fold(engine.events(first.id))
        assert stored == again.view
        assert list(stored.superseded) == ["work[2]"]
        assert stored.superseded["work[2]"][:3] == ("work[2]", TaskState.SUCCEEDED, 1)
        events = engine.events(first.id)
        assert [(e.task_key, dict(e.payload)) for e in events if e.type == "task.pending"] == [
            ("items", {"reason": "restart"}),
            ("work", {"reason": "restart", "superseded": 3}),
            ("total", {"reason": "restart"}),
        ]
        keys = _keys(flow_dir)
        assert len(keys) == len(set(keys)) == 5  # no idempotency key handed out twice
        assert max(_starts(engine, first.id).values()) == 1

        (flow_dir / "n").write_text("4")
        longer = engine.restart(first.id, from_task="items")
        assert longer.result() == ["0-of-4", "1-of-4", "2-of-4", "3-of-4"]
        attempts = {key: longer.tasks[key].attempts for key in longer.tasks if key.startswith("work[")}
        assert attempts == {"work[0]": 3, "work[1]": 3, "work[2]": 2, "work[3]": 1}
        assert longer.view.superseded == {}
        keys = _keys(flow_dir)
        assert len(keys) == len(set(keys)) == 9
        assert engine.verify(first.id).ok


def test_a_restart_from_one_child_reruns_it_and_keeps_the_expansion(
    database_url: str, flow_dir: Path
) -> None:
    (flow_dir / "n").write_text("3")
    with lf.Engine(database_url, home=flow_dir) as engine:
        first = engine.run(load_flow(f"{flow_dir / 'fan_flow.py'}:fan"))
        again = engine.restart(first.id, from_task="work[1]")
        assert again.result() == ["0-of-3", "1-of-3", "2-of-3"]
        assert {key: again.tasks[key].attempts for key in ("work[0]", "work[1]", "work[2]")} == {
            "work[0]": 1, "work[1]": 2, "work[2]": 1,
        }
        assert again.view.superseded == {}
