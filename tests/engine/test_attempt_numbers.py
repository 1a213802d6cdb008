"""Attempt numbers only grow, a retry records when it is due, and a map re-opened by a
restart supersedes its children: the fold's rules, without a database."""

from datetime import UTC, datetime

import pytest

from ledgerflow.engine.core.errors import InvalidEvent, InvalidTransition
from ledgerflow.engine.core.fold import fold
from ledgerflow.engine.core.frontier import frontier
from ledgerflow.engine.core.graph import Graph, TaskNode
from ledgerflow.engine.core.restart import has_nothing_to_restart, reopening, tasks_to_reopen
from ledgerflow.engine.core.states import TaskState

from .builders import LogBuilder, chain_graph

MAP_GRAPH = Graph(nodes={
    "src": TaskNode("src", "src"),
    "double": TaskNode("double", "double", ("src",), map_over=("src",)),
    "total": TaskNode("total", "total", ("double",)),
})  # fmt: skip


def _running(attempt: object) -> LogBuilder:
    log = LogBuilder(chain_graph("a"))
    log.add("a", "task.running", {"attempt": 1})
    log.add("a", "task.running", {"attempt": attempt})
    return log


def test_a_running_task_starts_again_only_as_a_later_attempt() -> None:
    state = fold(_running(2).events)
    assert (state.tasks["a"].state, state.tasks["a"].attempts) == (TaskState.RUNNING, 2)
    for attempt in (1, 0):  # a double submission, or an attempt from the past
        expected = rf"from RUNNING to RUNNING \(attempt {attempt} is not after attempt 1"
        with pytest.raises(InvalidTransition, match=expected):
            fold(_running(attempt).events)


def test_an_attempt_that_is_not_an_integer_is_refused() -> None:
    for attempt in ("2", None, True):
        with pytest.raises(InvalidEvent, match=r"task\.running needs an integer attempt"):
            fold(_running(attempt).events)


def _retrying(payload: dict[str, object]) -> LogBuilder:
    log = LogBuilder(chain_graph("a"))
    log.add("a", "task.running", {"attempt": 1})
    log.add("a", "task.retrying", {"attempt": 1, "error": {"type": "OSError"}, **payload})
    return log


@pytest.mark.parametrize("retry_at", [None, "", "soon", "2026-01-01T00:01:00", 5])
def test_a_retry_without_a_due_time_with_a_utc_offset_is_refused(retry_at: object) -> None:
    payload = {} if retry_at is None else {"retry_at": retry_at}
    with pytest.raises(InvalidEvent, match=r"task\.retrying of 'a' needs retry_at"):
        fold(_retrying(payload).events)


def test_a_retry_is_due_at_its_recorded_time() -> None:
    state = fold(_retrying({"retry_at": "2026-01-01T00:01:00+00:00"}).events)
    due = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    assert state.tasks["a"].retry_at == due
    assert frontier(state.graph, state).retry_due == {"a": due}


def _expanded_and_restarted(count: int) -> LogBuilder:
    """src ran and double expanded into ``count`` children that all ran; then a restart
    re-opened everything from src."""
    log = LogBuilder(MAP_GRAPH)
    log.add("src", "task.running", {"attempt": 1})
    log.add("src", "task.succeeded", {"attempt": 1, "result": {"inline": list(range(count))}})
    log.add("double", "task.mapped", {"count": count})
    for index in range(count):
        log.add(f"double[{index}]", "task.running", {"attempt": 1})
        log.add(f"double[{index}]", "task.succeeded", {"attempt": 1, "result": {"inline": index}})
    log.add("total", "task.running", {"attempt": 1})
    log.add("total", "task.succeeded", {"attempt": 1, "result": {"inline": 0}})
    log.add(None, "run.running", {"owner": "o"})
    state = fold(log.events)
    for key in tasks_to_reopen(MAP_GRAPH, state, "src"):
        log.add(key, "task.pending", reopening(state.tasks[key], "restart"))
    return log


def test_a_restart_above_a_map_supersedes_its_children_instead_of_reopening_them() -> None:
    log = _expanded_and_restarted(3)
    state = fold(log.events)
    assert [(e.task_key, e.payload) for e in log.events[-3:]] == [
        ("src", {"reason": "restart"}), ("double", {"reason": "restart", "superseded": 3}),
        ("total", {"reason": "restart"}),
    ]
    assert list(state.tasks) == ["src", "double", "total"]  # no stale child left to run
    assert list(state.superseded) == ["double[0]", "double[1]", "double[2]"]
    assert state.superseded["double[2]"].state is TaskState.SUCCEEDED
    assert frontier(MAP_GRAPH, state).ready == ("src",)


def test_a_shorter_expansion_keeps_attempt_numbers_and_leaves_no_stale_children() -> None:
    log = _expanded_and_restarted(3)
    log.add("src", "task.running", {"attempt": 2})
    log.add("src", "task.succeeded", {"attempt": 2, "result": {"inline": [0, 1]}})
    log.add("double", "task.mapped", {"count": 2})
    state = fold(log.events)
    assert [(c.key, c.state, c.attempts) for c in state.children("double")] == [
        ("double[0]", TaskState.PENDING, 1), ("double[1]", TaskState.PENDING, 1),
    ]
    assert list(state.superseded) == ["double[2]"] and "double[2]" not in state.tasks
    assert frontier(MAP_GRAPH, state).ready == ("double[0]", "double[1]")
    log.add("double[0]", "task.running", {"attempt": 2})
    assert fold(log.events).tasks["double[0]"].attempts == 2
    log.add("double[1]", "task.running", {"attempt": 2})
    log.add("double[1]", "task.running", {"attempt": 2})
    with pytest.raises(InvalidTransition, match="attempt 2 is not after attempt 2"):
        fold(log.events)


def test_a_longer_expansion_numbers_on_from_the_superseded_children() -> None:
    log = _expanded_and_restarted(1)
    log.add("double", "task.mapped", {"count": 2})
    state = fold(log.events)
    assert [(c.key, c.attempts) for c in state.children("double")] == [("double[0]", 1), ("double[1]", 0)]
    assert state.superseded == {}


def test_superseding_must_match_the_mapped_task_it_names() -> None:
    log = _expanded_and_restarted(2)
    bad = log.events[-2]._replace(payload={"reason": "restart", "superseded": 5})
    with pytest.raises(InvalidEvent, match="supersedes 5 children of 'double', which is MAPPED with 2"):
        fold([*log.events[:-2], bad])
    plain = LogBuilder(chain_graph("a"))
    plain.add("a", "task.running", {"attempt": 1})
    plain.add("a", "task.failed", {"attempt": 1, "error": {"type": "E"}})
    plain.add("a", "task.pending", {"reason": "restart", "superseded": 0})
    with pytest.raises(InvalidEvent, match="'a', which is FAILED"):
        fold(plain.events)


def test_a_restart_from_a_child_reopens_it_not_its_map() -> None:
    log = _expanded_and_restarted(2)
    state = fold(log.events[:-4])  # before the restart
    assert tasks_to_reopen(MAP_GRAPH, state, "double[1]") == ["total", "double[1]"]
    assert reopening(state.tasks["double[1]"], "restart") == {"reason": "restart"}


def test_nothing_to_restart_when_every_task_succeeded() -> None:
    log = _expanded_and_restarted(2)
    finished = fold(log.events[:-4])
    assert has_nothing_to_restart(MAP_GRAPH, finished)
    assert not has_nothing_to_restart(MAP_GRAPH, finished, "double[0]")
    failed = LogBuilder(chain_graph("a"))
    failed.add("a", "task.running", {"attempt": 1})
    failed.add("a", "task.failed", {"attempt": 1, "error": {"type": "E"}})
    assert not has_nothing_to_restart(chain_graph("a"), fold(failed.events))
    assert not has_nothing_to_restart(chain_graph("a"), fold(failed.events[:1]))  # a is still to run
