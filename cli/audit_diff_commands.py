"""``ledgerflow diff RUN_A RUN_B`` and ``ledgerflow lineage RUN TASK_KEY``: two runs side by
side, and where a task's result came from."""

import re
from typing import Annotated, Any

import orjson
import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..engine.durations import format_duration
from ..replay import Lineage, LineageNode, RunDiff, TaskRecord, TaskRow
from .options import DatabaseOption, ExpandOption, RunArgument, console, open_recorded
from .render import (
    HASH_CHARS,
    MAX_CHILDREN_SHOWN,
    format_time,
    short_json,
    styled_state,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON object instead of tables.")]
_CHILD = re.compile(r"^(?P<base>.+)\[\d+\]$")


def diff(
    run_a: Annotated[str, typer.Argument(metavar="RUN_A", help="The reference run.")],
    run_b: Annotated[str, typer.Argument(metavar="RUN_B", help="The run compared with it.")],
    as_json: JsonOption = False,
    expand: ExpandOption = False,
    database: DatabaseOption = None,
) -> None:
    """Compare two runs: parameters, graph, code hashes, and each task's state, attempts,
    duration and result hash side by side; then what changed first."""
    with open_recorded(database) as engine:
        found = engine.diff(run_a, run_b)
    if as_json:
        typer.echo(orjson.dumps(found.to_json(), option=orjson.OPT_INDENT_2).decode())
        return
    out = console()
    out.print(diff_header(found))
    if found.code_changed:
        out.print(code_table(found))
    out.print(diff_table(found, expand=expand))
    out.print(first_changes_text(found))


def lineage(
    run_id: RunArgument,
    task_key: Annotated[str, typer.Argument(metavar="TASK_KEY", help="The task, e.g. train[3].")],
    as_json: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Show where a task's result came from: its code hash, attempt, worker and times, and
    the upstream results it was called with, as a tree back to the run's parameters."""
    with open_recorded(database) as engine:
        found = engine.lineage(run_id, task_key)
    if as_json:
        typer.echo(orjson.dumps(found.to_json(), option=orjson.OPT_INDENT_2).decode())
        return
    console().print(lineage_tree(found))


def diff_header(found: RunDiff) -> Table:
    """The runs, flows, graph hashes and parameter changes."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("run A", f"{found.run_a}  ({found.flow_a})")
    grid.add_row("run B", f"{found.run_b}  ({found.flow_b})")
    same = "same" if found.is_same_graph else "DIFFERENT"
    grid.add_row("graph", f"{same}: {_hash(found.graph_hash_a)} / {_hash(found.graph_hash_b)}")
    changes = [f"{name} = {_json(a)} -> {_json(b)}" for name, (a, b) in found.parameters_changed.items()]
    changes += [f"+ {name} = {_json(value)}" for name, value in found.parameters_added.items()]
    changes += [f"- {name} = {_json(value)}" for name, value in found.parameters_removed.items()]
    grid.add_row("parameters", Text("\n".join(changes) or "same"))
    if found.tasks_added or found.tasks_removed:
        grid.add_row(
            "tasks", Text(f"{len(found.tasks_added)} only in B, {len(found.tasks_removed)} only in A")
        )
    return grid


def code_table(found: RunDiff) -> Table:
    """The tasks whose code hash differs between the runs."""
    table = Table(title="code changed", title_justify="left")
    for name in ("task", "code A", "code B"):
        table.add_column(name, no_wrap=True)
    for task, (a, b) in found.code_changed.items():
        table.add_row(task, _hash(a), _hash(b))
    return table


def diff_table(found: RunDiff, *, expand: bool = False) -> Table:
    """Each task's state, attempts, duration and result hash in A and B; many identical
    mapped children become one row unless ``expand``."""
    table = Table()
    table.add_column("task", no_wrap=True)
    for side in ("A", "B"):
        table.add_column(f"state {side}")
        table.add_column(f"att. {side}", justify="right")
        table.add_column(f"duration {side}", justify="right")
        table.add_column(f"result {side}", no_wrap=True)
    table.add_column("differs")
    hidden = _hidden_children(found.rows) if not expand else {}
    for row in found.rows:
        base = _base(row.key)
        if base is not None and base in hidden and row.is_same:
            if hidden[base] > 0:
                table.add_row(f"{base}[…] ({hidden[base]} the same)", *[""] * 8, Text("no", style="dim"))
                hidden[base] = 0
            continue
        table.add_row(row.key, *_side(row.a), *_side(row.b), _differs(row))
    return table


def _hidden_children(rows: tuple[TaskRow, ...]) -> dict[str, int]:
    """For each map with more than ``MAX_CHILDREN_SHOWN`` children, of which several are the
    same in both runs: how many (shown as one row)."""
    members: dict[str, list[TaskRow]] = {}
    for row in rows:
        base = _base(row.key)
        if base is not None:
            members.setdefault(base, []).append(row)
    counts = {base: sum(row.is_same for row in group) for base, group in members.items()}
    return {
        base: count for base, count in counts.items() if len(members[base]) > MAX_CHILDREN_SHOWN and count > 1
    }


def _base(key: str) -> str | None:
    match = _CHILD.match(key)
    return match["base"] if match is not None else None


def _side(record: TaskRecord | None) -> list[Any]:
    if record is None:
        return [Text("absent", style="dim"), "", "", ""]
    return [
        styled_state(record.state.value),
        str(record.attempt),
        format_duration(record.duration),
        _hash(record.result_hash, missing=""),
    ]


def _differs(row: TaskRow) -> Text:
    if row.a is None or row.b is None:
        return Text("task", style="red")
    what = [
        name
        for name, flag in (
            ("shape", row.is_shape_changed),
            ("code", row.code_differs),
            ("inputs", row.inputs_differ),
            ("state", row.state_differs),
            ("result", row.result_differs),
        )
        if flag
    ]
    return Text(", ".join(what), style="red") if what else Text("no", style="dim")


def first_changes_text(found: RunDiff) -> Text:
    """``what changed first:`` and the causal chain, or that the runs do not differ."""
    if not found.first_changes:
        return Text("no differences in parameters, graph, code, states or results")
    text = Text("what changed first:", style="bold")
    for number, change in enumerate(found.first_changes, start=1):
        text.append(f"\n  {number}. {change.kind.value}: {change.detail}", style="")
    return text


def lineage_tree(found: Lineage) -> Tree:
    """The lineage as a Rich tree: the task, its inputs below it, parameters at the leaves."""
    root = Tree(Group(Text(f"run {found.run_id} ({found.flow})", style="dim"), _label(found.root)))
    stack: list[tuple[LineageNode, Tree]] = [(given, root) for given in reversed(found.root.inputs)]
    if found.root.parameters is not None:
        root.add(_parameters(found.root))
    while stack:
        node, parent = stack.pop()
        branch = parent.add(_label(node))
        if node.parameters is not None:
            branch.add(_parameters(node))
        stack.extend((given, branch) for given in reversed(node.inputs))
    return root


def _label(node: LineageNode) -> Text:
    task = node.task
    text = Text(task.key, style="bold")
    if node.index is not None:
        text.append(f" (element [{node.index}])")
    if node.is_repeat:
        text.append("  (shown above)", style="dim")
        return text
    text.append("  ")
    text.append_text(styled_state(task.state.value))
    text.append(f"  task {task.task}  code {_hash(task.code_hash)}  attempt {task.attempt}")
    text.append(f"  result {_hash(task.result_hash, missing='none')}")
    if task.worker:
        text.append(f"  worker {task.worker}")
    if task.started_at is not None:
        text.append(f"  {format_time(task.started_at)} -> {format_time(task.finished_at)}")
    if task.cached_from is not None:
        text.append(f"  cached from run {task.cached_from.run_id} task {task.cached_from.task_key}")
    if task.map_count is not None:
        text.append(f"  mapped into {task.map_count} children")
    return text


def _parameters(node: LineageNode) -> Text:
    return Text(f"parameters {short_json(dict(node.parameters or {}), 2000)}", style="cyan")


def _hash(value: str | None, missing: str = "unknown") -> str:
    return value[:HASH_CHARS] if value else missing


def _json(value: Any) -> str:
    return short_json(value, 80)
