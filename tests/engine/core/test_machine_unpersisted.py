"""Results that were not persisted: a new drive runs their tasks again when a task that will
still run needs them (or the flow returns them), records why, and moves a task that waited
for one (RUNNING or RETRYING in the log) back to PENDING. No I/O."""

from typing import Any

from ledgerflow.engine.core.commands import Finished, Submit, WakeAt
from ledgerflow.engine.core.events import unpersisted_result
from ledgerflow.engine.core.fold import fold
from ledgerflow.engine.core.graph import RESULT_REF, Graph
from ledgerflow.engine.core.recompute import recomputation
from ledgerflow.engine.core.states import RunState, TaskState
from ledgerflow.engine.core.stimuli import AttemptEnded, Started, TimePassed

from ..builders import LogBuilder
from .machines import (
    NOW,
    OWNER,
    appended,
    event,
    graph_of,
    later,
    machine_of,
    node,
    running,
    succeeded_payload,
)

LOST = unpersisted_result("pickle", 4096, "ab" * 32)
RESUME = Started(OWNER, "resume")
RESUMED = event(None, "run.running", {"owner": OWNER, "reason": "resume"})


def _lost(attempt: int = 1) -> dict[str, Any]:
    """A task.succeeded payload whose result was not persisted."""
    return {"attempt": attempt, "duration": 0.5, "result": LOST}


Step = tuple[str | None, str, dict[str, Any]]


def _log(graph: Graph, *steps: Step) -> LogBuilder:
    log = LogBuilder(graph)
    log.add(None, "run.running", {"owner": "dead"})
    for key, type_, payload in steps:
        log.add(key, type_, payload)
    return log


def _produced(*more: Step) -> LogBuilder:
    """big succeeded with a result not persisted, total takes it; then ``more``."""
    graph = graph_of(node("big"), node("total", "big"))
    return _log(graph, ("big", "task.running", {"attempt": 1}), ("big", "task.succeeded", _lost()), *more)


def _pending(key: str, reason: str, **extra: Any) -> Any:
    return event(key, "task.pending", {"reason": reason, **extra})


def test_a_resume_runs_a_producer_again_for_its_orphaned_consumer_and_records_why() -> None:
    log = _produced(("total", "task.running", {"attempt": 1}))
    machine = machine_of(log)
    assert machine.handle([RESUME], NOW) == [
        appended(
            RESUMED,
            _pending("big", "result not persisted", needed_by=["total"]),
            _pending("total", "input not persisted", upstream=["big"]),
            running("big", attempt=2),
        ),
        Submit(("big",)),
        WakeAt(None),
    ]
    assert machine.task("total").state is TaskState.PENDING and machine.task("total").attempts == 1
    at = later(1)
    ended = AttemptEnded("big", 2, "SUCCEEDED", _lost(2))
    assert machine.handle([ended, TimePassed()], at) == [
        appended(event("big", "task.succeeded", _lost(2), at), running("total", attempt=2, at=at)),
        Submit(("total",)),
        WakeAt(None),
    ]


def test_a_consumer_not_started_yet_just_waits_for_the_producer_again() -> None:
    log = _log(
        graph_of(node("big"), node("slow"), node("total", "big", "slow")),
        ("big", "task.running", {"attempt": 1}),
        ("slow", "task.running", {"attempt": 1}),
        ("big", "task.succeeded", _lost()),
    )
    assert machine_of(log).handle([RESUME], NOW) == [
        appended(
            RESUMED,
            _pending("big", "result not persisted", needed_by=["total"]),
            running("slow", attempt=2, reason="orphaned"),
        ),
        Submit(("slow",)),
        appended(running("big", attempt=2)),
        Submit(("big",)),
        WakeAt(None),
    ]


def test_a_retrying_consumer_waits_for_the_producer_again() -> None:
    log = _produced(
        ("total", "task.running", {"attempt": 1}),
        ("total", "task.retrying", {"attempt": 1, "retry_at": later(60).isoformat()}),
    )
    commands = machine_of(log).handle([RESUME], NOW)
    assert commands[0] == appended(
        RESUMED,
        _pending("big", "result not persisted", needed_by=["total"]),
        _pending("total", "input not persisted", upstream=["big"]),
        running("big", attempt=2),
    )


def test_persisted_results_and_finished_consumers_run_nothing_again() -> None:
    log = _log(
        graph_of(node("big"), node("kept"), node("total", "big"), node("last", "kept")),
        ("big", "task.running", {"attempt": 1}),
        ("kept", "task.running", {"attempt": 1}),
        ("big", "task.succeeded", _lost()),
        ("kept", "task.succeeded", succeeded_payload(value=1)),
        ("total", "task.running", {"attempt": 1}),
        ("total", "task.succeeded", succeeded_payload(value=2)),
    )
    assert machine_of(log).handle([RESUME], NOW) == [
        appended(RESUMED, running("last")),
        Submit(("last",)),
        WakeAt(None),
    ]


def test_unpersisted_results_a_re_run_producer_needs_run_again_too() -> None:
    log = _log(
        graph_of(node("a"), node("b", "a"), node("c", "b")),
        ("a", "task.running", {"attempt": 1}),
        ("a", "task.succeeded", _lost()),
        ("b", "task.running", {"attempt": 1}),
        ("b", "task.succeeded", _lost()),
    )
    assert machine_of(log).handle([RESUME], NOW) == [
        appended(
            RESUMED,
            _pending("a", "result not persisted", needed_by=["b"]),
            _pending("b", "result not persisted", needed_by=["c"]),
            running("a", attempt=2),
        ),
        Submit(("a",)),
        WakeAt(None),
    ]


def test_the_flow_s_result_is_computed_again_when_the_run_goes_on() -> None:
    graph = Graph(nodes=graph_of(node("answer"), node("other")).nodes, result={"x": {RESULT_REF: "answer"}})
    log = _log(
        graph,
        ("answer", "task.running", {"attempt": 1}),
        ("answer", "task.succeeded", _lost()),
    )
    assert machine_of(log).handle([RESUME], NOW) == [
        appended(
            RESUMED,
            _pending("answer", "result not persisted", needed_by=[], flow_result=True),
            running("answer", attempt=2),
            running("other"),
        ),
        Submit(("answer", "other")),
        WakeAt(None),
    ]


def test_a_restart_from_a_consumer_runs_its_unpersisted_upstream_again() -> None:
    log = _produced(
        ("total", "task.running", {"attempt": 1}),
        ("total", "task.succeeded", succeeded_payload(value=3)),
        (None, "run.succeeded", {}),
    )
    commands = machine_of(log).handle([Started(OWNER, "restart", ("total",))], NOW)
    assert commands[0] == appended(
        event(None, "run.running", {"owner": OWNER, "reason": "restart"}),
        _pending("total", "restart"),
        _pending("big", "result not persisted", needed_by=["total"]),
        running("big", attempt=2),
    )


def test_a_run_being_cancelled_runs_nothing_again() -> None:
    log = _produced((None, "run.cancel_requested", {"reason": "enough", "requested_by": "someone"}))
    machine = machine_of(log)
    machine.handle([RESUME], NOW)
    assert machine.task("big").state is TaskState.SUCCEEDED


def test_a_dynamic_map_s_lost_input_and_lost_children_are_computed_again() -> None:
    graph = graph_of(node("items"), node("square", "items", map_over=("items",)), node("add", "square"))
    log = _log(
        graph,
        ("items", "task.running", {"attempt": 1}),
        ("items", "task.succeeded", {**_lost(), "result": {**LOST, "length": 2}}),
        ("square", "task.mapped", {"count": 2}),
        ("square[0]", "task.running", {"attempt": 1}),
        ("square[0]", "task.succeeded", _lost()),
    )
    plan = recomputation(graph, fold(log.events))
    assert plan.producers == {"items": ("square[0]", "square[1]"), "square[0]": ("add",)}
    assert plan.waiting == {}


def test_a_run_whose_lost_results_are_computed_again_ends_as_usual() -> None:
    log = _produced(("total", "task.running", {"attempt": 1}))
    machine = machine_of(log)
    machine.handle([RESUME], NOW)
    machine.handle([AttemptEnded("big", 2, "SUCCEEDED", _lost(2)), TimePassed()], later(1))
    ended = AttemptEnded("total", 2, "SUCCEEDED", succeeded_payload(2, 7))
    assert machine.handle([ended, TimePassed()], later(2))[-1] == Finished(RunState.SUCCEEDED)
    assert [machine.task(key).attempts for key in ("big", "total")] == [2, 2]
