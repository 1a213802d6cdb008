"""Rendering runs, tasks and events as Rich tables and plain text."""

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from rich.table import Table
from rich.text import Text

from ..engine.core.events import Event
from ..engine.core.fold import RunView, TaskView
from ..engine.core.states import RunState, TaskState
from ..engine.durations import format_duration
from ..engine.queueing import FlowWait
from ..storage import RunSummary
from .result_view import result_view

MAX_CHILDREN_SHOWN = 20
"""A group of mapped children larger than this is shown as one row with counts per state."""

PAYLOAD_CHARS = 60
HASH_CHARS = 12

_INDEXED = re.compile(r"^(?P<base>.+)\[\d+\]$")

STATE_STYLES: Mapping[str, str] = {
    "SUCCEEDED": "green",
    "CACHED": "green",
    "MAPPED": "cyan",
    "RUNNING": "blue",
    "RETRYING": "yellow",
    "PENDING": "dim",
    "SCHEDULED": "dim",
    "SKIPPED": "dim",
    "FAILED": "red",
    "UPSTREAM_FAILED": "red",
    "CRASHED": "red",
    "CANCELLED": "magenta",
}


def styled_state(state: str) -> Text:
    """A state name in its colour."""
    return Text(state, style=STATE_STYLES.get(state, ""))


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_time(moment: datetime | None) -> str:
    """A UTC timestamp to the second, ISO-like."""
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def format_clock(moment: datetime | None, *, with_day: bool = False) -> str:
    """A UTC time of day to the millisecond (when a task body started, say), with its day if asked."""
    shape = "%Y-%m-%d %H:%M:%S.%f" if with_day else "%H:%M:%S.%f"
    return "" if moment is None else moment.astimezone(UTC).strftime(shape)[:-3]


def short_json(value: Any, limit: int) -> str:
    """Compact JSON of ``value``, truncated."""
    return truncate(orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode(), limit)


def state_counts(counts: Mapping[str, int]) -> str:
    """``3 SUCCEEDED, 1 FAILED`` in the order of ``TaskState``."""
    order = {state.value: index for index, state in enumerate(TaskState)}
    ordered = sorted(((s, n) for s, n in counts.items() if n), key=lambda item: order.get(item[0], 99))
    return ", ".join(f"{n} {s}" for s, n in ordered)


@dataclass(frozen=True, slots=True)
class ChildGroup:
    """Mapped children of one parent, shown together when there are many."""

    base: str
    members: list[TaskView]


def _parent_key(key: str) -> str | None:
    match = _INDEXED.match(key)
    return match["base"] if match is not None else None


def task_rows(tasks: Mapping[str, TaskView], expand: bool = False) -> list[TaskView | ChildGroup]:
    """Tasks in log order, each map's children (``key[i]``) right after their parent, and
    a group of more than ``MAX_CHILDREN_SHOWN`` children folded into one row."""
    children: dict[str, list[TaskView]] = {}
    for task in tasks.values():
        parent = _parent_key(task.key)
        if parent is not None:
            children.setdefault(parent, []).append(task)
    rows: list[TaskView | ChildGroup] = []

    def add_children(parent: str) -> None:
        members = children.get(parent, [])
        if not expand and len(members) > MAX_CHILDREN_SHOWN:
            rows.append(ChildGroup(parent, members))
            return
        for member in members:
            rows.append(member)
            add_children(member.key)

    for task in tasks.values():
        parent = _parent_key(task.key)
        if parent is None:
            rows.append(task)
            add_children(task.key)
        elif parent not in tasks and task is children[parent][0]:  # a static map: no parent task
            add_children(parent)
    return rows


def task_table(tasks: Mapping[str, TaskView], *, expand: bool = False, title: str | None = None) -> Table:
    """Task key, state, attempts, when its last attempt started (UTC; the body's own start once it
    ended) and its duration; many mapped children become one row."""
    table = Table(title=title, title_justify="left")
    table.add_column("task", no_wrap=True)
    table.add_column("state")
    table.add_column("attempts", justify="right")
    table.add_column("started", no_wrap=True)
    table.add_column("duration", justify="right")
    for row in task_rows(tasks, expand):
        if isinstance(row, ChildGroup):
            _add_group_row(table, row)
        else:
            table.add_row(row.key, styled_state(row.state.value), str(row.attempts),
                          format_clock(row.started_at), format_duration(row.duration))  # fmt: skip
    return table


def _add_group_row(table: Table, group: ChildGroup) -> None:
    members = group.members
    counts = Counter(task.state.value for task in members)
    durations = [d for d in (task.duration for task in members) if d is not None]
    longest = f"max {format_duration(max(durations))}" if durations else ""
    starts = [task.started_at for task in members if task.started_at is not None]
    table.add_row(
        f"{group.base}[0..{len(members) - 1}] ({len(members)} tasks)",
        state_counts(counts),
        str(sum(task.attempts for task in members)),
        f"from {format_clock(min(starts))}" if starts else "",
        longest,
    )


def error_table(tasks: Mapping[str, TaskView], limit: int = MAX_CHILDREN_SHOWN) -> Table | None:
    """The type and message of each FAILED task's error (None if no task failed)."""
    failed = [task for task in tasks.values() if task.state is TaskState.FAILED]
    if not failed:
        return None
    table = Table(title="errors", title_justify="left")
    table.add_column("task", no_wrap=True)
    table.add_column("error", style="red", no_wrap=True)
    table.add_column("message")
    for task in failed[:limit]:
        error = task.error or {}
        message = str(error.get("message", "")).strip().splitlines()
        table.add_row(task.key, str(error.get("type", "?")), truncate(message[0] if message else "", 300))
    if len(failed) > limit:
        table.add_row(f"… {len(failed) - limit} more", "", "")
    return table


def waiting_state(state: str, wait: FlowWait | None) -> Text:
    """A state in its colour, with why a SCHEDULED or CRASHED run waits (its flow's run
    limit)."""
    shown = styled_state(state)
    if wait is not None:
        shown.append(f"  {wait}", style="yellow")
    return shown


def wait_json(wait: FlowWait | None) -> dict[str, int] | None:
    """Why a run waits, for ``--json``: its flow's runs driven and their limit (or null)."""
    return None if wait is None else {"running": wait.running, "limit": wait.limit}


def run_header(view: RunView, wait: FlowWait | None = None) -> Table:
    """The run's identity: id, flow, reference, state (and why it waits), queue, times,
    parameters."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("run", view.run_id)
    grid.add_row("flow", f"{view.flow}" + (f"  ({view.flow_ref})" if view.flow_ref else ""))
    grid.add_row("state", waiting_state(view.state.value, wait))
    limit = view.terms.max_concurrent_runs
    at_most = "" if limit is None else f"; at most {limit} run(s) of its flow at once"
    grid.add_row("queue", f"{view.terms.queue}, priority {view.terms.priority}{at_most}")
    grid.add_row("created", format_time(view.created_at))
    grid.add_row("updated", f"{format_time(view.updated_at)}  (seq {view.seq})")
    grid.add_row("parameters", Text(short_json(dict(view.parameters), 2000)))
    return grid


def run_duration(run: RunSummary, now: datetime) -> tuple[float, bool]:
    """Seconds from creation to the last event of a finished run, or to ``now``; finished?"""
    is_finished = RunState(run.state).is_terminal
    end = run.updated_at if is_finished else now
    return max((end - run.created_at).total_seconds(), 0.0), is_finished


def runs_table(
    runs: Iterable[RunSummary], now: datetime, waits: Mapping[str, FlowWait] | None = None
) -> Table:
    """Run id, flow, state (and why a SCHEDULED or CRASHED run waits, from ``waits``), queue,
    priority, created, updated, duration (so far, if not finished), events."""
    table = Table()
    for name in ("run id", "flow", "state", "queue"):
        table.add_column(name, no_wrap=True)
    table.add_column("priority", justify="right")
    for name in ("created", "updated"):
        table.add_column(name, no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("events", justify="right")
    for run in runs:
        seconds, is_finished = run_duration(run, now)
        duration = format_duration(seconds) + ("" if is_finished else " so far")
        state = waiting_state(run.state, (waits or {}).get(run.run_id))
        table.add_row(run.run_id, run.flow, state, run.queue, str(run.priority), format_time(run.created_at),
                      format_time(run.updated_at), duration, str(run.head_seq))
    return table


def run_summary_json(run: RunSummary, now: datetime, wait: FlowWait | None = None) -> dict[str, Any]:
    """A run summary as a JSON object, with its duration (so far, if not finished), queue,
    priority and why it waits (``waiting_for_flow_limit``: runs driven and the limit, or null)."""
    seconds, is_finished = run_duration(run, now)
    return {
        "id": run.run_id,
        "run_id": run.run_id,  # the same value, for scripts written before "id"
        "flow": run.flow,
        "state": run.state,
        "created_at": run.created_at.isoformat(),
        "updated_at": run.updated_at.isoformat(),
        "events": run.head_seq,
        "head_hash": run.head_hash,
        "owner": run.owner,
        "duration_s": round(seconds, 6),
        "is_finished": is_finished,
        "queue": run.queue,
        "priority": run.priority,
        "waiting_for_flow_limit": wait_json(wait),
    }


def events_table(events: Sequence[Event]) -> Table:
    """Seq, time, task key, type, a short payload and the hash prefix of each event."""
    table = Table()
    table.add_column("seq", justify="right", no_wrap=True)
    table.add_column("ts", no_wrap=True)
    table.add_column("task", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("payload", overflow="ellipsis", no_wrap=True)
    table.add_column("hash", no_wrap=True)
    for event in events:
        table.add_row(
            str(event.seq), event.ts.strftime("%H:%M:%S.%f")[:-3], event.task_key or "",
            event.type, short_json(dict(event.payload), PAYLOAD_CHARS), event.hash[:HASH_CHARS],
        )
    return table


def event_json(event: Event) -> bytes:
    """One event as a JSON Lines record with every field."""
    return orjson.dumps({
        "run_id": event.run_id,
        "seq": event.seq,
        "task_key": event.task_key,
        "type": event.type,
        "payload": dict(event.payload),
        "ts": event.ts.isoformat(),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    })


def result_text(value: Any) -> str:
    """A run's result, pretty and bounded, cut only between whole items (see ``result_view``)."""
    return result_view(value)


def state_line(state: RunState) -> Text:
    """``state: SUCCEEDED`` in colour."""
    return Text.assemble(("state: ", "bold"), styled_state(state.value))
