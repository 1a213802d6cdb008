"""The fast fold and frontier give what the plain reading of the rules gives.

``fold`` and ``frontier`` are tuned for large runs (flat loops, precomputed tables, a
lazily parsed graph). Here a straightforward reference of each, written from the
transition table and the trigger rules, is run on random logs and must agree exactly,
errors included.
"""

from datetime import datetime
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerflow.engine.core.errors import InvalidEvent, InvalidTransition
from ledgerflow.engine.core.events import Event
from ledgerflow.engine.core.fold import Folder, RunView, TaskView, fold
from ledgerflow.engine.core.frontier import Frontier, Outlook, frontier, outlook
from ledgerflow.engine.core.graph import Graph, TaskNode, Trigger, child_key
from ledgerflow.engine.core.states import RunState, TaskState
from ledgerflow.engine.core.transitions import (
    CANCEL_REQUESTABLE,
    HANDBACKABLE,
    NEW_ATTEMPT_ONLY,
    RUN_TRANSITIONS,
    TASK_TRANSITIONS,
)

from .builders import LogBuilder, chain_graph

# -- the references -----------------------------------------------------------------


def reference_fold(events: list[Event]) -> RunView:
    """One event at a time, straight from the transition table."""
    created = events[0]
    graph = Graph.from_dict(created.payload["graph"])
    tasks = {key: TaskView(key=key) for key in graph.nodes}
    superseded: dict[str, TaskView] = {}
    state, owner = RunState(created.payload.get("state", "PENDING")), None
    started_at, cancel_request = None, None
    for event in events[1:]:
        name = event.type.partition(".")[2]
        if event.type == "run.cancel_requested":
            if state not in CANCEL_REQUESTABLE:
                raise InvalidEvent(event.run_id, event.seq, "a finished run cannot be cancelled")
            cancel_request = MappingProxyType(dict(event.payload))
            continue
        if event.type == "run.handed_back":
            if state not in HANDBACKABLE:
                raise InvalidEvent(event.run_id, event.seq, "only a RUNNING run can be handed back")
            owner = None
            continue
        if event.task_key is None:
            target_run = RunState(name.upper())
            if target_run not in RUN_TRANSITIONS[state]:
                raise InvalidTransition(event.run_id, event.seq, None, state, target_run)
            if target_run is RunState.RUNNING and state.is_terminal:  # a restart
                started_at, cancel_request = event.ts, None
            elif target_run is RunState.RUNNING and started_at is None:
                started_at = event.ts
            state = target_run
            owner = event.payload.get("owner", owner) if state is RunState.RUNNING else owner
            continue
        task, target = tasks[event.task_key], TaskState(name.upper())
        if target not in TASK_TRANSITIONS[task.state]:
            raise InvalidTransition(event.run_id, event.seq, task.key, task.state, target)
        attempt = event.payload.get("attempt", task.attempts + 1)
        if (task.state, target) in NEW_ATTEMPT_ONLY and attempt <= task.attempts:
            raise InvalidTransition(
                event.run_id, event.seq, task.key, task.state, target,
                f"attempt {attempt} is not after attempt {task.attempts}: only a new attempt may start",
            )  # fmt: skip
        if target is TaskState.PENDING and "superseded" in event.payload:
            for index in range(event.payload["superseded"]):
                superseded[child_key(task.key, index)] = tasks.pop(child_key(task.key, index))
        tasks[task.key] = _reference_task_after(task, target, event)
        for index in range(event.payload["count"] if target is TaskState.MAPPED else 0):
            key = child_key(task.key, index)
            earlier = tasks.get(key) or superseded.pop(key, None)
            tasks[key] = TaskView(key, attempts=earlier.attempts if earlier else 0, parent=task.key)
    last = events[-1]
    return RunView(
        created.run_id, state, last.seq, last.hash, created.payload.get("flow", ""),
        created.payload.get("flow_ref"), MappingProxyType(dict(created.payload["parameters"])),
        graph, created.payload.get("graph_hash"), MappingProxyType(tasks), created.ts, last.ts,
        owner, started_at, created.payload.get("timeout"), cancel_request,
        MappingProxyType(superseded),
    )


def _reference_task_after(task: TaskView, target: TaskState, event: Event) -> TaskView:
    payload = event.payload
    common: dict[str, Any] = {
        "state": target, "seq": event.seq, "result": None, "error": None, "retry_at": None,
        "map_count": None, "finished_at": None, "runtime": None,
    }
    if target is TaskState.RUNNING:
        attempts = int(payload.get("attempt", task.attempts + 1))
        return task._replace(**common, attempts=attempts, started_at=event.ts)
    if target is TaskState.PENDING:
        return task._replace(**common)
    if target is TaskState.MAPPED:
        return task._replace(**common | {"map_count": payload["count"], "finished_at": event.ts})
    retry_at = payload["retry_at"] if target is TaskState.RETRYING else None
    started, finished = task.started_at, event.ts
    if "started_at" in payload:  # the body's own times, where it ran
        started = datetime.fromisoformat(payload["started_at"])
        finished = datetime.fromisoformat(payload["finished_at"])
    return task._replace(**common | {
        "result": payload.get("result"), "error": payload.get("error"),
        "retry_at": datetime.fromisoformat(retry_at) if retry_at else None,
        "started_at": started, "finished_at": finished, "runtime": payload.get("duration"),
    })


def reference_frontier(graph: Graph, state: RunView) -> Frontier:
    """Every task on its own, every upstream outlook computed afresh."""
    ready, expand = [], []
    upstream_failed: dict[str, tuple[str, ...]] = {}
    skipped: dict[str, str] = {}
    retry_due: dict[str, datetime] = {}
    unsettled = 0
    for task in state.tasks.values():
        if task.state is TaskState.MAPPED:
            continue
        if task.state is TaskState.RETRYING:
            assert task.retry_at is not None
            retry_due[task.key] = task.retry_at
        if task.state is not TaskState.PENDING:
            unsettled += not task.state.is_terminal
            continue
        unsettled += 1
        node = graph.nodes[task.parent or task.key]
        looks = [(key, outlook(state, key)) for key in node.upstream]
        failed = tuple(key for key, look in looks if look is Outlook.FAILED)
        if any(look is Outlook.WAITING for _, look in looks):
            continue
        if node.trigger is Trigger.ANY_FAILED and not failed:
            skipped[task.key] = "trigger any_failed: no upstream task failed"
        elif node.trigger is Trigger.ALL_SUCCESSFUL and failed:
            upstream_failed[task.key] = failed
        elif node.trigger is Trigger.ALL_SUCCESSFUL and any(
            look is Outlook.SKIPPED for _, look in looks
        ):
            skipped[task.key] = "an upstream task was skipped"
        else:
            (expand if node.map_over is not None and task.parent is None else ready).append(task.key)
    return Frontier(
        tuple(ready), tuple(expand), upstream_failed, skipped, retry_due, unsettled == 0,
    )


# -- random logs ---------------------------------------------------------------------

_TRIGGERS = list(Trigger)


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    """A few tasks, each with upstreams among the earlier ones; maybe one dynamic map."""
    nodes: dict[str, TaskNode] = {}
    for index in range(draw(st.integers(1, 6))):
        key = f"t{index}"
        upstream = tuple(draw(st.lists(st.sampled_from(list(nodes)), unique=True))) if nodes else ()
        is_map = bool(upstream) and draw(st.booleans())
        nodes[key] = TaskNode(
            key, f"task{index % 3}", upstream, draw(st.sampled_from(_TRIGGERS)),
            upstream[:1] if is_map else None,
        )
    return Graph(nodes=nodes, result={"$task": next(reversed(nodes))})


def _payload(
    source: TaskState, target: TaskState, attempts: int, children: int | None, draw: st.DrawFn
) -> dict[str, Any]:
    if target is TaskState.PENDING and source is TaskState.MAPPED:  # re-opened to expand again
        return draw(st.sampled_from([{"reason": "r", "superseded": children}, {"reason": "r"}]))
    if target is TaskState.RUNNING:
        return draw(st.sampled_from([{"attempt": attempts + 1}, {}]))
    if target is TaskState.MAPPED:
        return {"count": draw(st.integers(0, 3))}
    if target is TaskState.RETRYING:
        return {"attempt": attempts, "retry_at": "2026-01-01T00:01:00.000001+00:00",
                "error": {"type": "OSError"}}
    ran = draw(st.sampled_from([{}, {"started_at": "2026-01-01T00:00:30.000001+00:00",
                                             "finished_at": "2026-01-01T00:00:30.250001+00:00"}]))
    if target is TaskState.SUCCEEDED:
        return {"attempt": attempts, "result": {"inline": attempts}, "duration": 0.25, **ran}
    if target is TaskState.CACHED:
        return {"attempt": attempts, "result": {"inline": attempts}, "duration": 0.25}
    if target is TaskState.FAILED:
        return {"attempt": attempts, "error": {"type": "E", "message": "m"}, "duration": 0.5, **ran}
    return {"reason": "r"}


@st.composite
def logs(draw: st.DrawFn) -> list[Event]:
    """A random walk through the transition tables over a random graph."""
    graph = draw(graphs())
    log = LogBuilder(graph)
    created = log.events[0]
    extra = {"parameters": {"n": 1}, "graph_hash": "g", "flow_ref": "m:f"}
    log.events[0] = created._replace(payload={**created.payload, **extra})
    states = {key: TaskState.PENDING for key in graph.nodes}
    attempts = dict.fromkeys(graph.nodes, 0)  # kept for superseded children too
    counts: dict[str, int] = {}  # each mapped task's number of children
    run_state = RunState.PENDING
    for _ in range(draw(st.integers(0, 40))):
        if draw(st.integers(0, 19)) == 0 and run_state in CANCEL_REQUESTABLE:
            log.add(None, "run.cancel_requested", {"reason": "r", "requested_by": "someone"})
            continue
        if draw(st.integers(0, 19)) == 0 and run_state in HANDBACKABLE:
            log.add(None, "run.handed_back", {"reason": "r", "owner": "someone"})
            continue
        if draw(st.integers(0, 9)) == 0:
            run_state = draw(st.sampled_from(sorted(RUN_TRANSITIONS[run_state])))
            log.add(None, f"run.{run_state.value.lower()}", {"owner": f"o{len(log.events)}"})
            continue
        key = draw(st.sampled_from(sorted(states)))
        target = draw(st.sampled_from(sorted(TASK_TRANSITIONS[states[key]])))
        if target is TaskState.MAPPED and key not in graph.nodes:
            continue  # only a node of the graph expands into children
        payload = _payload(states[key], target, attempts[key], counts.get(key), draw)
        if target is TaskState.RUNNING:
            attempts[key] = int(payload.get("attempt", attempts[key] + 1))
        if "superseded" in payload:
            for index in range(counts.pop(key)):
                del states[child_key(key, index)]
        if target is TaskState.MAPPED:
            counts[key] = payload["count"]
            for index in range(payload["count"]):  # attempts number on across expansions
                states[child_key(key, index)] = TaskState.PENDING
                attempts.setdefault(child_key(key, index), 0)
        log.add(key, f"task.{target.value.lower()}", payload)
        states[key] = target
    return log.events


# -- the properties ------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(logs())
def test_fold_equals_the_reference_fold(events: list[Event]) -> None:
    assert fold(events) == reference_fold(events)


@settings(max_examples=200, deadline=None)
@given(logs(), st.data())
def test_frontier_equals_the_reference_frontier(events: list[Event], data: st.DataObject) -> None:
    state = fold(events[: data.draw(st.integers(1, len(events)))])
    traced = Graph(nodes=dict(state.graph.nodes), result=state.graph.result)  # as traced
    assert frontier(traced, state) == reference_frontier(traced, state)
    assert frontier(state.graph, state) == reference_frontier(traced, state)


@settings(max_examples=200, deadline=None)
@given(logs(), st.data())
def test_a_forbidden_event_raises_what_the_reference_raises(
    events: list[Event], data: st.DataObject
) -> None:
    state = fold(events)
    key = data.draw(st.sampled_from(sorted(state.tasks)))
    target = data.draw(st.sampled_from(sorted(TaskState)))
    if target in TASK_TRANSITIONS[state.tasks[key].state]:
        return
    last = events[-1]
    bad = Event(last.run_id, last.seq + 1, key, f"task.{target.value.lower()}", {}, last.ts, "", "x")
    with pytest.raises(InvalidTransition) as fast:
        fold([*events, bad])
    with pytest.raises(InvalidTransition) as reference:
        reference_fold([*events, bad])
    assert str(fast.value) == str(reference.value)
    assert (fast.value.source, fast.value.target) == (state.tasks[key].state, target)


# -- the pieces ----------------------------------------------------------------------


def test_a_task_view_is_immutable_and_compared_by_value() -> None:
    view = TaskView("a", TaskState.SUCCEEDED, attempts=2, runtime=1.5)
    with pytest.raises(AttributeError):
        view.state = TaskState.FAILED  # type: ignore[misc]
    assert view == TaskView("a", TaskState.SUCCEEDED, attempts=2, runtime=1.5)
    assert view != TaskView("a", TaskState.SUCCEEDED, attempts=3, runtime=1.5)
    assert view.duration == 1.5 and TaskView("a").duration is None


def test_an_event_that_does_not_fit_leaves_the_events_before_it_applied() -> None:
    log = LogBuilder(chain_graph("a", "b"))
    log.add("a", "task.running", {"attempt": 1})
    log.add("b", "task.succeeded", {})
    folder = Folder()
    with pytest.raises(InvalidTransition):
        folder.apply_all(log.events)
    state = folder.view()
    assert (state.seq, state.head_hash, state.tasks["a"].state) == (2, "h2", TaskState.RUNNING)
    with pytest.raises(InvalidEvent, match="expected seq 3"):
        folder.apply(log.events[1])


def test_a_recorded_graph_reads_like_the_graph_it_was_written_from() -> None:
    graph = Graph(nodes={
        "a": TaskNode("a", "a"),
        "b": TaskNode("b", "b", ("a",), Trigger.ANY_FAILED, ("a",)),
        "c": TaskNode("c", "c", ("a", "b"), Trigger.ALL_FINISHED),
    }, result=[{"$task": "c"}])
    recorded = Graph.from_dict(graph.to_dict())
    assert list(recorded.nodes) == ["a", "b", "c"] and len(recorded.nodes) == 3
    assert "b" in recorded.nodes and "z" not in recorded.nodes
    assert recorded == graph and recorded.nodes == graph.nodes
    assert recorded.nodes["b"] == graph.nodes["b"]
    assert list(recorded.nodes.items()) == list(graph.nodes.items())
    assert recorded.digest() == graph.digest() and recorded.downstream() == graph.downstream()
    assert repr(recorded.nodes) == repr(graph.nodes)


def test_fresh_tasks_come_in_graph_order_then_children() -> None:
    log = LogBuilder(Graph(nodes={
        "src": TaskNode("src", "src"),
        "double": TaskNode("double", "double", ("src",), map_over=("src",)),
        "total": TaskNode("total", "total", ("double",)),
    }))
    log.add("double", "task.mapped", {"count": 2})
    assert list(fold(log.events).tasks) == ["src", "double", "total", "double[0]", "double[1]"]
