"""Task rows, mapped-children aggregation and progress counts (pure: no database)."""

from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from ledgerflow import Event, TaskState
from ledgerflow.cli.progress import StateCounts
from ledgerflow.cli.render import MAX_CHILDREN_SHOWN, task_rows, task_table
from ledgerflow.engine.core.fold import TaskView
from ledgerflow.engine.durations import format_duration

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def tasks(*keys: str, state: TaskState = TaskState.SUCCEEDED) -> dict[str, TaskView]:
    return {key: TaskView(key=key, state=state, attempts=1) for key in keys}


def keys_of(rows: list[Any]) -> list[str]:
    return [row.key if isinstance(row, TaskView) else f"group:{row.base}" for row in rows]


def test_dynamic_children_follow_their_parent() -> None:
    view = tasks("make", "double", "total", "double[0]", "double[1]")
    assert keys_of(task_rows(view)) == ["make", "double", "double[0]", "double[1]", "total"]


def test_a_large_group_of_children_is_one_row_unless_expanded() -> None:
    many = [f"double[{i}]" for i in range(MAX_CHILDREN_SHOWN + 1)]
    view = tasks("start", *many, "total")
    assert keys_of(task_rows(view)) == ["start", "group:double", "total"]
    assert keys_of(task_rows(view, expand=True)) == ["start", *many, "total"]
    exactly = tasks(*many[:MAX_CHILDREN_SHOWN])
    assert keys_of(task_rows(exactly)) == many[:MAX_CHILDREN_SHOWN]


def test_a_group_row_counts_states() -> None:
    view = tasks(*(f"fit[{i}]" for i in range(30)))
    view["fit[3]"] = TaskView(key="fit[3]", state=TaskState.FAILED, attempts=3)
    console = Console(width=200, record=True)
    console.print(task_table(view))
    text = console.export_text()
    assert "fit[0..29] (30 tasks)" in text
    assert "29 SUCCEEDED, 1 FAILED" in text
    assert "32" in text  # attempts summed


def event(seq: int, type_: str, key: str | None = None, **payload: Any) -> Event:
    return Event("r1", seq, key, type_, payload, NOW, "", "")


def test_state_counts_follow_events_and_map_expansion() -> None:
    counts = StateCounts()
    graph = {"nodes": [{"key": "make"}, {"key": "double"}]}
    assert counts.apply([event(1, "run.created", graph=graph, state="PENDING")])
    assert counts.total == 2 and counts.describe() == "2 PENDING"
    assert counts.apply([event(2, "run.running"), event(3, "task.running", "make", attempt=1)])
    assert not counts.apply([event(4, "task.succeeded", "make"), event(5, "task.mapped", "double", count=3)])
    assert counts.total == 5 and counts.done == 2
    assert counts.describe() == "3 PENDING, 1 SUCCEEDED, 1 MAPPED"


def test_durations_are_readable() -> None:
    assert [format_duration(s) for s in (None, 0.0123, 12.34, 187, 7500)] == [
        "", "0.012s", "12.3s", "3m 07s", "2h 05m",
    ]


def test_the_task_table_shows_when_each_body_started_to_the_millisecond() -> None:
    started = datetime(2026, 1, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    view = {
        "nap[0]": TaskView("nap[0]", TaskState.SUCCEEDED, 1, started_at=started, runtime=0.3),
        "nap[1]": TaskView("nap[1]", TaskState.SUCCEEDED, 1, started_at=started.replace(microsecond=550_000)),
    }
    console = Console(width=200, record=True)
    console.print(task_table(view))
    text = console.export_text()
    assert "12:00:00.250" in text and "12:00:00.550" in text and "0.300s" in text
    many = {f"fit[{i}]": TaskView(f"fit[{i}]", TaskState.SUCCEEDED, 1, started_at=started) for i in range(30)}
    console.print(task_table(many))
    assert "from 12:00:00.250" in console.export_text()
