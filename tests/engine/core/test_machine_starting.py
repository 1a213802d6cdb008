"""Which tasks the machine starts: roots, a chain as it advances, a restart's re-opened tasks,
orphaned attempts of a resumed run, and the caps on starts per round and attempts in flight."""

from ledgerflow.engine.core.commands import (
    AcquireSlots,
    Finished,
    IgnoreOutcome,
    MeasureMaps,
    StopWork,
    Submit,
    WakeAt,
)
from ledgerflow.engine.core.policy import TaskPolicy
from ledgerflow.engine.core.states import RunState, TaskState
from ledgerflow.engine.core.stimuli import MapMeasured, SlotsAnswered, Started, TimePassed, WorkStopped
from ledgerflow.engine.retry import RetryPolicy

from ..builders import LogBuilder, chain_graph
from .machines import (
    NOW,
    OWNER,
    START,
    appended,
    event,
    graph_of,
    later,
    machine_of,
    node,
    running,
    running_run,
    started,
    succeeded_payload,
    success,
)

TAGGED = TaskPolicy(retry=RetryPolicy(), tags=("db",))


def test_a_fresh_run_starts_its_roots_and_waits_for_them() -> None:
    machine = machine_of(graph_of(node("a"), node("b"), node("c", "a", "b")))
    assert machine.handle([START], NOW) == [
        appended(running_run(), running("a"), running("b")),
        Submit(("a", "b")),
        WakeAt(None),
    ]
    assert machine.in_flight == 2 and not machine.is_finished


def test_a_chain_advances_as_its_attempts_end() -> None:
    machine = started(graph_of(node("a"), node("b"), node("c", "a", "b")))
    at = later(1)
    assert machine.handle([success("a", value=1), TimePassed()], at) == [
        appended(event("a", "task.succeeded", succeeded_payload(value=1), at)),
        WakeAt(None),
    ]
    at = later(2)
    assert machine.handle([success("b", value=2), TimePassed()], at) == [
        appended(event("b", "task.succeeded", succeeded_payload(value=2), at), running("c", at=at)),
        Submit(("c",)),
        WakeAt(None),
    ]
    at = later(3)
    assert machine.handle([success("c", value=3), TimePassed()], at) == [
        appended(
            event("c", "task.succeeded", succeeded_payload(value=3), at), event(None, "run.succeeded", at=at)
        ),
        Finished(RunState.SUCCEEDED),
    ]
    assert machine.is_finished and machine.in_flight == 0


def test_outcomes_taken_together_are_recorded_in_their_order_before_what_they_start() -> None:
    machine = started(graph_of(node("a"), node("b"), node("c", "a", "b")))
    at = later(1)
    assert machine.handle([success("b"), success("a"), TimePassed()], at) == [
        appended(
            event("b", "task.succeeded", succeeded_payload(), at),
            event("a", "task.succeeded", succeeded_payload(), at),
            running("c", at=at),
        ),
        Submit(("c",)),
        WakeAt(None),
    ]


def _failed_chain() -> LogBuilder:
    log = LogBuilder(chain_graph("a", "b"))
    log.add(None, "run.running", {"owner": "earlier"})
    log.add("a", "task.running", {"attempt": 1})
    log.add("a", "task.failed", {"attempt": 1, "error": {"type": "E"}})
    log.add("b", "task.upstream_failed", {"upstream": ["a"]})
    log.add(None, "run.failed", {"reason": "a failed"})
    return log


def test_a_restart_reopens_its_tasks_then_starts_them_as_new_attempts() -> None:
    machine = machine_of(_failed_chain())
    assert machine.handle([Started(OWNER, "restart", ("a", "b"))], NOW) == [
        appended(
            event(None, "run.running", {"owner": OWNER, "reason": "restart"}),
            event("a", "task.pending", {"reason": "restart"}),
            event("b", "task.pending", {"reason": "restart"}),
            running("a", attempt=2),
        ),
        Submit(("a",)),
        WakeAt(None),
    ]
    assert machine.view().started_at == NOW  # a restart is a new execution with its own clock


def _resumed() -> LogBuilder:
    """a (at its second attempt) was running when its driver died; b is a root yet to run;
    c waits for a."""
    log = LogBuilder(graph_of(node("a"), node("b"), node("c", "a")))
    log.add(None, "run.running", {"owner": "dead"})
    log.add("a", "task.running", {"attempt": 1})
    log.add("a", "task.retrying", {"attempt": 1, "retry_at": "2026-01-01T00:00:00+00:00"})
    log.add("a", "task.running", {"attempt": 2})
    return log


RESUMED = event(None, "run.running", {"owner": OWNER, "reason": "resume"})


def test_a_resumed_run_starts_a_new_attempt_of_its_orphan_first() -> None:
    machine = machine_of(_resumed())
    assert machine.handle([Started(OWNER, "resume")], NOW) == [
        appended(RESUMED, running("a", attempt=3, reason="orphaned")),
        Submit(("a",)),
        appended(running("b")),
        Submit(("b",)),
        WakeAt(None),
    ]
    assert machine.view().started_at == machine_of(_resumed()).view().started_at  # kept by a resume


def test_orphans_start_in_the_order_of_the_run_s_tasks() -> None:
    keys = [f"t{index}" for index in range(8)]
    log = LogBuilder(graph_of(*[node(key) for key in keys]))
    log.add(None, "run.running", {"owner": "dead"})
    for key in keys:
        log.add(key, "task.running", {"attempt": 1})
    commands = machine_of(log).handle([Started(OWNER, "resume")], NOW)
    assert commands[1] == Submit(tuple(keys))  # the same order in every process, as a replay needs


def test_the_outcome_of_an_orphaned_attempt_is_stale() -> None:
    machine = machine_of(_resumed())
    machine.handle([Started(OWNER, "resume")], NOW)
    at = later(1)
    assert machine.handle([success("a", attempt=2), TimePassed()], at) == [
        IgnoreOutcome("a", 2),
        WakeAt(None),
    ]
    assert machine.handle([success("a", attempt=3), TimePassed()], at) == [
        appended(event("a", "task.succeeded", succeeded_payload(attempt=3), at), running("c", at=at)),
        Submit(("c",)),
        WakeAt(None),
    ]


def test_a_tagged_orphan_gets_its_slots_before_its_new_attempt() -> None:
    machine = machine_of(_resumed(), {"a": TAGGED}, has_limits=True)
    assert machine.handle([Started(OWNER, "resume")], NOW) == [
        appended(RESUMED),
        AcquireSlots((("a", ("db",)),)),
    ]
    assert machine.handle([SlotsAnswered(frozenset())], NOW) == [  # refused: b goes on alone
        appended(running("b")),
        Submit(("b",)),
        WakeAt(later(0.5)),
    ]
    assert machine.task("a").state is TaskState.RUNNING and machine.task("a").attempts == 2
    at = later(0.5)
    assert machine.handle([TimePassed()], at) == [AcquireSlots((("a", ("db",)),))]
    assert machine.handle([SlotsAnswered(frozenset({"a"}))], at) == [
        appended(running("a", attempt=3, at=at, reason="orphaned")),
        Submit(("a",)),
        WakeAt(None),
    ]


def test_a_resumed_run_with_a_recorded_cancel_request_cancels_at_once() -> None:
    log = _resumed()
    log.add(None, "run.cancel_requested", {"reason": "user", "requested_by": "someone"})
    machine = machine_of(log)
    assert machine.handle([Started(OWNER, "resume")], NOW) == [appended(RESUMED), StopWork()]
    assert machine.handle([WorkStopped()], NOW) == [
        appended(
            event("a", "task.cancelled", {"reason": "user"}),
            event("b", "task.cancelled", {"reason": "user"}),
            event("c", "task.cancelled", {"reason": "user"}),
            event(None, "run.cancelled", {"reason": "user"}),
        ),
        Finished(RunState.CANCELLED),
    ]


def test_starts_per_round_are_capped_and_the_rest_start_at_once_in_the_next_round() -> None:
    machine = machine_of(graph_of(*[node(key) for key in "abcde"]), max_starts_per_round=2)
    assert machine.handle([START], NOW) == [
        appended(running_run(), running("a"), running("b")),
        Submit(("a", "b")),
        WakeAt(NOW),
    ]
    assert machine.handle([TimePassed()], NOW) == [
        appended(running("c"), running("d")),
        Submit(("c", "d")),
        WakeAt(NOW),
    ]
    assert machine.handle([TimePassed()], NOW) == [appended(running("e")), Submit(("e",)), WakeAt(None)]


def test_attempts_in_flight_are_capped_and_the_rest_start_as_attempts_end() -> None:
    machine = machine_of(graph_of(*[node(key) for key in "abcd"]), max_in_flight=2)
    assert machine.handle([START], NOW) == [
        appended(running_run(), running("a"), running("b")),
        Submit(("a", "b")),
        WakeAt(None),  # capped by what is in flight: wait for an attempt to end
    ]
    at = later(1)
    assert machine.handle([success("a"), TimePassed()], at) == [
        appended(event("a", "task.succeeded", succeeded_payload(), at), running("c", at=at)),
        Submit(("c",)),
        WakeAt(None),
    ]
    assert machine.in_flight == 2


def test_a_restart_of_a_cancelled_run_runs_again_and_is_not_cancelled_again() -> None:
    log = LogBuilder(chain_graph("a"))
    log.add(None, "run.running", {"owner": "earlier"})
    log.add("a", "task.running", {"attempt": 1})
    log.add(None, "run.cancel_requested", {"reason": "user"})
    log.add("a", "task.cancelled", {"reason": "user"})
    log.add(None, "run.cancelled", {"reason": "user"})
    machine = machine_of(log)
    assert machine.handle([Started(OWNER, "restart", ("a",))], NOW) == [
        appended(
            event(None, "run.running", {"owner": OWNER, "reason": "restart"}),
            event("a", "task.pending", {"reason": "restart"}),
            running("a", attempt=2),
        ),
        Submit(("a",)),
        WakeAt(None),
    ]


def test_a_restart_above_a_map_expands_it_again_and_its_children_number_on() -> None:
    graph = graph_of(node("src"), node("double", "src", map_over=("src",)), node("total", "double"))
    log = LogBuilder(graph)
    log.add(None, "run.running", {"owner": "earlier"})
    log.add("src", "task.running", {"attempt": 1})
    log.add("src", "task.succeeded", {"attempt": 1, "result": {"inline": [1]}})
    log.add("double", "task.mapped", {"count": 1})
    log.add("double[0]", "task.running", {"attempt": 1})
    log.add("double[0]", "task.succeeded", {"attempt": 1, "result": {"inline": 2}})
    log.add("total", "task.running", {"attempt": 1})
    log.add("total", "task.succeeded", {"attempt": 1, "result": {"inline": 2}})
    log.add(None, "run.succeeded")
    machine = machine_of(log)
    assert machine.handle([Started(OWNER, "restart", ("src", "double", "total"))], NOW) == [
        appended(
            event(None, "run.running", {"owner": OWNER, "reason": "restart"}),
            event("src", "task.pending", {"reason": "restart"}),
            event("double", "task.pending", {"reason": "restart", "superseded": 1}),
            event("total", "task.pending", {"reason": "restart"}),
            running("src", attempt=2),
        ),
        Submit(("src",)),
        WakeAt(None),
    ]
    at = later(1)
    assert machine.handle([success("src", attempt=2, value=[1, 2]), TimePassed()], at) == [
        appended(event("src", "task.succeeded", succeeded_payload(attempt=2, value=[1, 2]), at)),
        MeasureMaps(("double",)),
    ]
    assert machine.handle([MapMeasured("double", count=2)], at) == [
        appended(
            event("double", "task.mapped", {"count": 2}, at),
            running("double[0]", attempt=2, at=at),
            running("double[1]", attempt=1, at=at),
        ),
        Submit(("double[0]", "double[1]")),
        WakeAt(None),
    ]
