"""The diff of two runs: parameters, graph, code hashes and each task side by side, and
what changed first.

Read-only: both runs are read from their event lists. Tasks are compared by key, in
topological order, so the first difference found is the earliest one in the flow.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from ..engine.core.events import Event
from .records import RunRecord, TaskRecord, record_json, record_run, topological_keys

HASH_CHARS = 12


class ChangeKind(StrEnum):
    """What kind of difference a ``Change`` is."""

    PARAMETER = "parameter"
    GRAPH = "graph"
    CODE = "code"
    STATE = "state"
    RESULT = "result"


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between the runs: a parameter name or a task key, and what differs."""

    kind: ChangeKind
    subject: str
    detail: str


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One task key in both runs (``a`` or ``b`` is None where the run does not have it)."""

    key: str
    a: TaskRecord | None
    b: TaskRecord | None
    is_shape_changed: bool
    code_differs: bool
    inputs_differ: bool
    state_differs: bool
    result_differs: bool

    @property
    def is_same(self) -> bool:
        """True if the task exists in both runs with the same shape, code, inputs, state
        and result."""
        return (
            self.a is not None
            and self.b is not None
            and not (
                self.is_shape_changed
                or self.code_differs
                or self.inputs_differ
                or self.state_differs
                or self.result_differs
            )
        )


@dataclass(frozen=True, slots=True)
class RunDiff:
    """Two runs compared; ``first_changes`` is the causal chain of what changed first."""

    run_a: str
    run_b: str
    flow_a: str
    flow_b: str
    parameters_changed: Mapping[str, tuple[Any, Any]]
    parameters_added: Mapping[str, Any]
    parameters_removed: Mapping[str, Any]
    graph_hash_a: str | None
    graph_hash_b: str | None
    tasks_added: tuple[str, ...]
    tasks_removed: tuple[str, ...]
    code_changed: Mapping[str, tuple[str, str]]
    rows: tuple[TaskRow, ...]
    first_changes: tuple[Change, ...]

    @property
    def is_same_graph(self) -> bool:
        """True if both runs recorded the same graph hash."""
        return self.graph_hash_a is not None and self.graph_hash_a == self.graph_hash_b

    def to_json(self) -> dict[str, Any]:
        """The diff as a JSON object, for programs."""
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "flow": {"a": self.flow_a, "b": self.flow_b},
            "parameters": {
                "changed": {k: {"a": a, "b": b} for k, (a, b) in self.parameters_changed.items()},
                "added": dict(self.parameters_added),
                "removed": dict(self.parameters_removed),
            },
            "graph": {"a": self.graph_hash_a, "b": self.graph_hash_b, "same": self.is_same_graph},
            "tasks_added": list(self.tasks_added),
            "tasks_removed": list(self.tasks_removed),
            "code_changed": {name: {"a": a, "b": b} for name, (a, b) in self.code_changed.items()},
            "tasks": [_row_json(row) for row in self.rows],
            "first_changes": [
                {"kind": c.kind.value, "subject": c.subject, "detail": c.detail} for c in self.first_changes
            ],
        }


def diff_runs(events_a: Sequence[Event], events_b: Sequence[Event]) -> RunDiff:
    """Compare two runs from their event lists (run A is the reference)."""
    a, b = record_run(events_a), record_run(events_b)
    params_a, params_b = a.view.parameters, b.view.parameters
    changed = {
        name: (params_a[name], params_b[name])
        for name in params_a
        if name in params_b and _canonical(params_a[name]) != _canonical(params_b[name])
    }
    added = {name: params_b[name] for name in params_b if name not in params_a}
    removed = {name: params_a[name] for name in params_a if name not in params_b}
    rows = tuple(_row(a, b, key) for key in _keys(a, b))
    return RunDiff(
        run_a=a.view.run_id,
        run_b=b.view.run_id,
        flow_a=a.view.flow,
        flow_b=b.view.flow,
        parameters_changed=changed,
        parameters_added=added,
        parameters_removed=removed,
        graph_hash_a=a.view.graph_hash,
        graph_hash_b=b.view.graph_hash,
        tasks_added=tuple(row.key for row in rows if row.a is None),
        tasks_removed=tuple(row.key for row in rows if row.b is None),
        code_changed={
            name: (a.code[name], b.code[name])
            for name in a.code
            if name in b.code and a.code[name] != b.code[name]
        },
        rows=rows,
        first_changes=_first_changes(changed, added, removed, rows),
    )


def _canonical(value: Any) -> bytes:
    """JSON bytes that tell 1 from 1.0 and True (Python's == does not)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _keys(a: RunRecord, b: RunRecord) -> list[str]:
    """A's task keys in topological order, each key only B has right after the key it
    follows in B's order (so an extra mapped child comes after its siblings)."""
    keys = topological_keys(a.view)
    known = set(keys)
    following: dict[str | None, list[str]] = {}
    anchor: str | None = None
    for key in topological_keys(b.view):
        if key in known:
            anchor = key
        else:
            following.setdefault(anchor, []).append(key)
    merged = list(following.get(None, ()))
    for key in keys:
        merged.append(key)
        merged.extend(following.get(key, ()))
    return merged


def _row(a: RunRecord, b: RunRecord, key: str) -> TaskRow:
    task_a, task_b = a.tasks.get(key), b.tasks.get(key)
    if task_a is None or task_b is None:
        return TaskRow(key, task_a, task_b, True, False, False, False, False)
    return TaskRow(
        key=key,
        a=task_a,
        b=task_b,
        is_shape_changed=a.node(key).to_dict() != b.node(key).to_dict(),
        code_differs=None not in (task_a.code_hash, task_b.code_hash)
        and task_a.code_hash != task_b.code_hash,
        inputs_differ=_input_hashes(a, key) != _input_hashes(b, key) or _arguments_differ(a, b, key),
        state_differs=task_a.state is not task_b.state,
        result_differs=task_a.result_hash != task_b.result_hash,
    )


def _input_hashes(run: RunRecord, key: str) -> list[tuple[str, int | None, str | None]]:
    """Each input of ``key``: its task key, the element taken, and the hash of what it took."""
    return [(given.task_key, given.index, run.input_hash(given)) for given in run.inputs(key)]


def _arguments_differ(a: RunRecord, b: RunRecord, key: str) -> bool:
    """True if both runs recorded the arguments ``key`` was called with, and they differ
    (a flow parameter or constant passed to it changed)."""
    digest_a, digest_b = a.argument_digest(key), b.argument_digest(key)
    return None not in (digest_a, digest_b) and digest_a != digest_b


def _first_changes(
    changed: Mapping[str, tuple[Any, Any]],
    added: Mapping[str, Any],
    removed: Mapping[str, Any],
    rows: Sequence[TaskRow],
) -> tuple[Change, ...]:
    """The earliest cause (a parameter, else the first task that differs in topological
    order), then the first task whose outcome differs, if that is another change."""
    chain: list[Change] = []
    parameter = _parameter_change(changed, added, removed)
    if parameter is not None:
        chain.append(parameter)
    ordered = _causal_order(rows)
    first = next((row for row in ordered if _is_own_change(row)), None)
    if first is not None:
        chain.append(_task_change(first))
    outcome = next((row for row in ordered if _is_outcome_changed(row)), None)
    if outcome is not None and (outcome is not first or chain[-1].kind in _CAUSES):
        chain.append(_outcome_change(outcome))
    return tuple(chain)


_CAUSES = (ChangeKind.GRAPH, ChangeKind.CODE)


def _causal_order(rows: Sequence[TaskRow]) -> list[TaskRow]:
    """The rows with each dynamic map's parent moved after its children: a mapped task's
    result is its children's, so a child's difference comes first."""
    ordered: list[TaskRow] = []
    held: TaskRow | None = None
    for row in rows:
        record = row.a or row.b
        if held is not None and (record is None or record.parent != held.key):
            ordered.append(held)
            held = None
        if record is not None and record.map_count is not None:
            held = row
        else:
            ordered.append(row)
    if held is not None:
        ordered.append(held)
    return ordered


def _is_own_change(row: TaskRow) -> bool:
    """True if the task itself differs (other inputs alone are an upstream's change)."""
    return not row.is_same and (_is_outcome_changed(row) or row.is_shape_changed or row.code_differs)


def _is_outcome_changed(row: TaskRow) -> bool:
    return row.a is not None and row.b is not None and (row.state_differs or row.result_differs)


def _parameter_change(
    changed: Mapping[str, tuple[Any, Any]], added: Mapping[str, Any], removed: Mapping[str, Any]
) -> Change | None:
    details = [f"{name!r}: {_short(a)} -> {_short(b)}" for name, (a, b) in sorted(changed.items())]
    details += [f"{name!r} added: {_short(value)}" for name, value in sorted(added.items())]
    details += [f"{name!r} removed (was {_short(value)})" for name, value in sorted(removed.items())]
    if not details:
        return None
    first = sorted([*changed, *added, *removed])[0]
    return Change(ChangeKind.PARAMETER, first, "parameters " + "; ".join(details))


def _task_change(row: TaskRow) -> Change:
    """The most basic difference of one task: its existence or shape, code, then outcome."""
    if row.a is None or row.b is None:
        side = "B" if row.a is None else "A"
        return Change(ChangeKind.GRAPH, row.key, f"task {row.key!r} exists only in run {side}")
    if row.is_shape_changed:
        return Change(ChangeKind.GRAPH, row.key, f"task {row.key!r} has other upstreams, task or trigger")
    if row.code_differs:
        return Change(
            ChangeKind.CODE,
            row.key,
            f"code of task {row.a.task!r} ({row.key!r}) changed: "
            f"{_hash(row.a.code_hash)} -> {_hash(row.b.code_hash)}",
        )
    return _outcome_change(row)


def _outcome_change(row: TaskRow) -> Change:
    assert row.a is not None and row.b is not None
    why = "its inputs differ" if row.inputs_differ else "with the same inputs"
    if row.state_differs:
        return Change(
            ChangeKind.STATE,
            row.key,
            f"task {row.key!r} ended {row.a.state.value} in A, {row.b.state.value} in B ({why})",
        )
    return Change(
        ChangeKind.RESULT,
        row.key,
        f"result of task {row.key!r} differs: {_hash(row.a.result_hash, 'none')} -> "
        f"{_hash(row.b.result_hash, 'none')} ({why})",
    )


def _short(value: Any) -> str:
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return text if len(text) <= 60 else text[:59] + "…"


def _hash(value: str | None, missing: str = "unknown") -> str:
    return value[:HASH_CHARS] if value else missing


def _row_json(row: TaskRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "a": None if row.a is None else record_json(row.a),
        "b": None if row.b is None else record_json(row.b),
        "same": row.is_same,
        "shape_changed": row.is_shape_changed,
        "code_differs": row.code_differs,
        "inputs_differ": row.inputs_differ,
        "state_differs": row.state_differs,
        "result_differs": row.result_differs,
    }
