"""How ``ledgerflow show`` presents results: where each task's result is, its size, format
and sha256 (a table with short hashes, one task's detail and JSON with full ones), and a
value loaded on request through the checked path (size, sha256, a pickle's signature)."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from rich.table import Table
from rich.text import Text

from ..engine.api import Engine
from ..engine.core.fold import RunView, TaskView
from ..engine.core.states import RunState, TaskState
from ..engine.durations import format_duration
from ..engine.errors import ResultNotPersisted
from ..engine.queueing import FlowWait
from ..engine.result_details import (
    ResultLocation,
    ValueProblem,
    ValueUnavailable,
    explaining,
    human_size,
    location_of,
    run_result_tasks,
    stored_size,
    value_tasks,
)
from ..engine.result_values import run_result_loader
from ..engine.run import Run
from .render import HASH_CHARS, ChildGroup, format_clock, result_text, styled_state, task_rows, wait_json

MAX_LOAD_BYTES = 16 * 1024**2
"""``show`` loads a run's result unasked only if its stored results take at most this many bytes."""
_JSON_VALUE = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def checked_run(engine: Engine, run: Run) -> Run:
    """``run``, its results loaded as the engine loads them (the flow's module imported for
    a pickle of its classes; stores opened with the engine's options), each failure a
    ``ValueUnavailable`` naming why."""
    view = run.view
    load = run_result_loader(view.flow_ref, engine.storage.results, engine.results_placement.open)
    return Run(view, explaining(load))


@dataclass(frozen=True, slots=True)
class ValueAnswer:
    """A value that was to be shown: ``value``, else why not (``problem``, or a ``note``)."""

    value: Any = None
    problem: ValueProblem | None = None
    note: str | None = None

    @property
    def is_loaded(self) -> bool:
        """Whether ``value`` is the value."""
        return self.problem is None and self.note is None


def answer_value(run: Run, task_key: str | None, is_asked: bool) -> ValueAnswer | None:
    """Task ``task_key``'s value (or the run's result) if ``is_asked``; unasked, the run's
    result of a succeeded run when its stored results are small enough (else a note), and
    None for a task."""
    view = run.view
    load: Callable[[], Any]
    if task_key is None:
        if run.state is not RunState.SUCCEEDED:
            return _no_result(f"run {run.id} has no result: it is {run.state.value}") if is_asked else None
        size = stored_size(view, run_result_tasks(view))
        if not is_asked and size > MAX_LOAD_BYTES:
            return ValueAnswer(note=f"not loaded: its stored results take {human_size(size)} "
                               f"(`ledgerflow show {run.id} --value` loads it)")  # fmt: skip
        load = run.result
    else:
        if not is_asked:
            return None
        state = view.tasks[task_key].state
        if not state.is_success and state is not TaskState.MAPPED:
            return _no_result(f"task {task_key} of run {run.id} has no result: it is {state.value}", task_key)
        load = lambda: run.task_result(task_key)  # noqa: E731
    try:
        return ValueAnswer(load())
    except ValueUnavailable as exc:
        return ValueAnswer(problem=exc.problem)
    except ResultNotPersisted as exc:  # only its size and sha256 were recorded
        if is_asked:
            return ValueAnswer(problem=ValueProblem("not_persisted", str(exc), exc.task_key))
        return ValueAnswer(note=f"not available: {exc}")


def _no_result(message: str, task_key: str | None = None) -> ValueAnswer:
    return ValueAnswer(problem=ValueProblem("no_result", message, task_key))


def value_line(answer: ValueAnswer) -> str:
    """``result: ...``: the value, bounded, or why it is not shown."""
    if answer.problem is not None:
        return f"result: not shown: {answer.problem.message}"
    if answer.note is not None:
        return f"result: {answer.note}"
    return f"result: {result_text(answer.value)}"


def results_table(tasks: Mapping[str, TaskView], *, expand: bool = False) -> Table | None:
    """Each task's result: where (and the key there), size, format and a short sha256; many
    mapped children one row (None if no task has a result)."""
    table = Table(title="results", title_justify="left")
    for name in ("task", "where", "key", "size", "format", "sha256"):
        table.add_column(name, no_wrap=name != "key", justify="right" if name == "size" else "left")
    for row in task_rows(tasks, expand):
        if isinstance(row, ChildGroup):
            _add_group(table, row)
            continue
        location = location_of(row.result)
        if location is not None:
            table.add_row(row.key, location.where, location.key or "", location.size_text,
                          location.encoding, (location.sha256 or "")[:HASH_CHARS])  # fmt: skip
    return table if table.row_count else None


def _add_group(table: Table, group: ChildGroup) -> None:
    located = [found for task in group.members if (found := location_of(task.result)) is not None]
    if not located:
        return
    places = sorted({location.where for location in located})
    encodings = sorted({location.encoding for location in located})
    table.add_row(
        f"{group.base}[0..{len(group.members) - 1}] ({len(located)} results)",
        places[0] if len(places) == 1 else f"{len(places)} places",
        "", human_size(sum(location.size for location in located)), ", ".join(encodings), "",
    )  # fmt: skip


def task_detail(view: RunView, key: str) -> Table:
    """One task: its state, attempts and duration, and where its result is with its full
    sha256 (a dynamic map: how many children, and their stored bytes)."""
    task = view.tasks[key]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("run", f"{view.run_id}  ({view.flow}, {view.state.value})")
    grid.add_row("task", key)
    grid.add_row("state", styled_state(task.state.value))
    grid.add_row("attempts", str(task.attempts))
    for label, moment in (("started", task.started_at), ("finished", task.finished_at)):
        if moment is not None:  # the body's own times, where it ran, once its attempt ended
            grid.add_row(label, f"{format_clock(moment, with_day=True)} UTC")
    grid.add_row("duration", format_duration(task.duration))
    location = location_of(task.result)
    if task.state is TaskState.MAPPED:
        size = stored_size(view, value_tasks(view, key))
        grid.add_row("result", f"the list of its {task.map_count or 0} children's results "
                     f"({human_size(size)} stored; see each child)")  # fmt: skip
    elif location is None:
        grid.add_row("result", "none")
    else:
        _add_location(grid, location)
    return grid


def _add_location(grid: Table, location: ResultLocation) -> None:
    grid.add_row("result", Text(location.url or location.where))
    if location.key is not None:
        grid.add_row("store", Text(location.where))
        grid.add_row("key", Text(location.key))
    grid.add_row("size", f"{location.size_text} ({location.size:,} bytes)")
    grid.add_row("format", location.encoding)
    grid.add_row("sha256", location.sha256 or "none: the event's own hash covers an inline result")


def task_json(task: TaskView) -> dict[str, Any]:
    """A task with where its result is (every field of its location, the full sha256)."""
    location = location_of(task.result)
    return {
        "key": task.key, "state": task.state.value, "attempts": task.attempts, "duration_s": task.duration,
        "started_at": None if task.started_at is None else task.started_at.isoformat(),
        "finished_at": None if task.finished_at is None else task.finished_at.isoformat(),
        "map_count": task.map_count, "error": None if task.error is None else dict(task.error),
        "result": None if location is None else location.to_json(),
    }  # fmt: skip


def show_json(
    view: RunView, task_key: str | None, answer: ValueAnswer | None, wait: FlowWait | None = None
) -> bytes:
    """The run with every task (or the one task asked for), and the value if it was asked."""
    shown: dict[str, Any] = {
        "id": view.run_id, "run_id": view.run_id, "flow": view.flow, "flow_ref": view.flow_ref,
        "state": view.state.value, "seq": view.seq, "created_at": view.created_at.isoformat(),
        "updated_at": view.updated_at.isoformat(), "parameters": dict(view.parameters),
        **view.terms._asdict(), "waiting_for_flow_limit": wait_json(wait),
    }  # fmt: skip
    if task_key is None:
        shown["tasks"] = [task_json(task) for task in view.tasks.values()]
    else:
        shown["task"] = task_json(view.tasks[task_key])
    if answer is None:
        return orjson.dumps(shown, option=orjson.OPT_INDENT_2)
    if not answer.is_loaded:
        shown["value_problem" if answer.problem else "value_note"] = (
            answer.problem.to_json() if answer.problem else answer.note
        )
        return orjson.dumps(shown, option=orjson.OPT_INDENT_2)
    try:
        return orjson.dumps({**shown, "value": answer.value}, option=orjson.OPT_INDENT_2 | _JSON_VALUE)
    except TypeError:  # not JSON: a bounded repr instead
        shown["value_repr"] = result_text(answer.value)
        return orjson.dumps(shown, option=orjson.OPT_INDENT_2)
