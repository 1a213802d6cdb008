"""fold: events in, state out; forbidden events rejected with every locating detail."""

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerflow.engine.core.errors import InvalidEvent, InvalidTransition
from ledgerflow.engine.core.events import Event
from ledgerflow.engine.core.fold import Folder, apply, fold
from ledgerflow.engine.core.graph import Graph, TaskNode
from ledgerflow.engine.core.states import RunState, TaskState
from ledgerflow.engine.core.transitions import TASK_TRANSITIONS

from .builders import LogBuilder, chain_graph


def test_run_created_initialises_every_task_pending() -> None:
    log = LogBuilder(chain_graph("a", "b"))
    state = fold(log.events)
    assert state.state is RunState.PENDING
    assert {k: t.state for k, t in state.tasks.items()} == {"a": "PENDING", "b": "PENDING"}


def test_a_successful_task_records_attempt_result_and_times() -> None:
    log = LogBuilder(chain_graph("a"))
    log.add(None, "run.running", {"owner": "me"})
    started = log.add("a", "task.running", {"attempt": 1})
    ended = log.add("a", "task.succeeded", {"attempt": 1, "result": {"inline": 3}})
    state = fold(log.events)
    task = state.tasks["a"]
    assert (task.state, task.attempts, task.result) == (TaskState.SUCCEEDED, 1, {"inline": 3})
    assert (task.started_at, task.finished_at) == (started.ts, ended.ts)
    assert state.owner == "me" and state.seq == 4 and state.head_hash == "h4"


def test_an_ending_that_records_its_bodys_start_gives_the_bodys_times() -> None:
    log = LogBuilder(chain_graph("a"))
    log.add(None, "run.running", {"owner": "me"})
    submitted = log.add("a", "task.running", {"attempt": 1})
    started, finished = "2026-01-01T00:00:07.250000+00:00", "2026-01-01T00:00:07.550000+00:00"
    log.add("a", "task.failed", {
        "attempt": 1, "started_at": started, "finished_at": finished, "duration": 0.3, "error": {},
    })
    task = fold(log.events).tasks["a"]
    assert (task.started_at, task.finished_at) == tuple(map(datetime.fromisoformat, (started, finished)))
    assert task.started_at != submitted.ts and task.duration == 0.3


@pytest.mark.parametrize(
    "times",
    [{"started_at": "yesterday", "finished_at": "2026-01-01T00:00:00+00:00"},
     {"started_at": "2026-01-01T00:00:00", "finished_at": "2026-01-01T00:00:01"},
     {"started_at": 5, "finished_at": "2026-01-01T00:00:00+00:00"},
     {"started_at": "2026-01-01T00:00:00+00:00"}],
)  # fmt: skip
def test_a_bodys_start_that_is_no_utc_time_is_rejected(times: dict[str, Any]) -> None:
    log = LogBuilder(chain_graph("a"))
    log.add("a", "task.running", {"attempt": 1})
    log.add("a", "task.succeeded", {"attempt": 1, **times})
    with pytest.raises(InvalidEvent, match=r"task\.succeeded of 'a' records started_at"):
        fold(log.events)


def test_forbidden_transition_names_run_seq_task_and_both_states() -> None:
    log = LogBuilder(chain_graph("a"))
    log.add("a", "task.succeeded", {"attempt": 1})
    with pytest.raises(InvalidTransition) as caught:
        fold(log.events)
    error = caught.value
    assert (error.run_id, error.seq, error.task_key) == ("run-1", 2, "a")
    assert (error.source, error.target) == ("PENDING", "SUCCEEDED")
    assert "run-1" in str(error) and "seq 2" in str(error) and "'a'" in str(error)


def test_forbidden_run_transition_is_rejected() -> None:
    log = LogBuilder(chain_graph("a"))
    log.add(None, "run.succeeded")
    with pytest.raises(InvalidTransition, match="the run cannot go from PENDING to SUCCEEDED"):
        fold(log.events)


@pytest.mark.parametrize(
    ("task_key", "type_", "payload", "message"),
    [
        ("zz", "task.running", {"attempt": 1}, "unknown task 'zz'"),
        ("a", "task.exploded", {}, "unknown task event type"),
        (None, "run.created", {}, "only be the first event"),
        ("a", "task.mapped", {"count": -1}, "count >= 0"),
    ],
)
def test_malformed_events_are_rejected(
    task_key: str | None, type_: str, payload: dict[str, Any], message: str
) -> None:
    log = LogBuilder(chain_graph("a"))
    log.add(task_key, type_, payload)
    with pytest.raises(InvalidEvent, match=message):
        fold(log.events)


def test_a_gap_in_seq_is_rejected() -> None:
    log = LogBuilder(chain_graph("a"))
    log.add(None, "run.running")
    with pytest.raises(InvalidEvent, match="expected seq 2"):
        fold([log.events[0], log.events[1]._replace(seq=3)])


def test_mapped_event_creates_children() -> None:
    graph = Graph(nodes={"src": TaskNode("src", "src"),
                         "double": TaskNode("double", "double", ("src",), map_over=("src",))})
    log = LogBuilder(graph)
    log.add("double", "task.mapped", {"count": 2})
    state = fold(log.events)
    assert [c.key for c in state.children("double")] == ["double[0]", "double[1]"]
    assert state.tasks["double[1]"].parent == "double"


def test_restart_reopens_a_failed_task_and_attempts_continue() -> None:
    log = LogBuilder(chain_graph("a"))
    log.add("a", "task.running", {"attempt": 1})
    log.add("a", "task.failed", {"attempt": 1, "error": {"type": "E"}})
    log.add("a", "task.pending", {"reason": "restart"})
    log.add("a", "task.running", {"attempt": 2})
    task = fold(log.events).tasks["a"]
    assert (task.state, task.attempts, task.error) == (TaskState.RUNNING, 2, None)


# -- properties -------------------------------------------------------------------

_PAYLOADS = {
    TaskState.MAPPED: lambda: {"count": 0},
    TaskState.RETRYING: lambda: {"retry_at": "2026-01-01T00:00:00+00:00", "error": {}},
}


@st.composite
def valid_logs(draw: st.DrawFn) -> tuple[list[Event], dict[str, TaskState]]:
    """A random walk through the transition table over a few tasks."""
    keys = [f"t{i}" for i in range(draw(st.integers(1, 4)))]
    log = LogBuilder(chain_graph(*keys))
    expected = {key: TaskState.PENDING for key in keys}
    attempts = dict.fromkeys(keys, 0)
    for _ in range(draw(st.integers(0, 30))):
        key = draw(st.sampled_from(keys))
        target = draw(st.sampled_from(sorted(TASK_TRANSITIONS[expected[key]])))
        payload: dict[str, Any] = _PAYLOADS.get(target, dict)()
        if target is TaskState.RUNNING:
            attempts[key] += 1
            payload = {"attempt": attempts[key]}
        log.add(key, "task." + target.value.lower(), payload)
        expected[key] = target
    return log.events, expected


@settings(max_examples=200, deadline=None)
@given(valid_logs())
def test_any_valid_sequence_folds_to_the_walked_states(
    walk: tuple[list[Event], dict[str, TaskState]],
) -> None:
    events, expected = walk
    state = fold(events)
    assert {key: state.tasks[key].state for key in expected} == expected
    assert state.seq == len(events)


@settings(max_examples=200, deadline=None)
@given(valid_logs(), st.data())
def test_folding_a_prefix_then_the_rest_equals_folding_all(
    walk: tuple[list[Event], dict[str, TaskState]], data: st.DataObject
) -> None:
    events, _ = walk
    cut = data.draw(st.integers(1, len(events)))
    assert Folder(fold(events[:cut])).apply_all(events[cut:]).view() == fold(events)


@settings(max_examples=100, deadline=None)
@given(valid_logs())
def test_apply_one_by_one_equals_fold(walk: tuple[list[Event], dict[str, TaskState]]) -> None:
    events, _ = walk
    state = fold(events[:1])
    for event in events[1:]:
        state = apply(state, event)
    assert state == fold(events)
