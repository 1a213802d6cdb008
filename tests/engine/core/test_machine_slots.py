"""Concurrency slots as the machine asks for them: a tagged task starts only with its slots, a
refused one is asked again after a short wait, and slots go back once the end is written."""

from ledgerflow.engine.core.commands import AcquireSlots, Finished, ReleaseSlots, Submit, WakeAt
from ledgerflow.engine.core.policy import TaskPolicy
from ledgerflow.engine.core.states import RunState, TaskState
from ledgerflow.engine.core.stimuli import SlotsAnswered, TimePassed, Written
from ledgerflow.engine.retry import RetryPolicy

from ..builders import chain_graph
from .machines import (
    NOW,
    START,
    appended,
    event,
    failed_payload,
    failure,
    graph_of,
    iso,
    later,
    machine_of,
    node,
    running,
    running_run,
    started,
    succeeded_payload,
    success,
)

DB = TaskPolicy(retry=RetryPolicy(), tags=("db",))
BOTH = TaskPolicy(retry=RetryPolicy(retries=1, delay=5.0), tags=("db", "gpu"))


def test_tagged_tasks_ask_for_their_slots_first_and_untagged_ones_wait_for_the_answer() -> None:
    machine = machine_of(graph_of(node("a"), node("b"), node("c")), {"a": DB, "b": BOTH}, has_limits=True)
    assert machine.handle([START], NOW) == [
        appended(running_run()),
        AcquireSlots((("a", ("db",)), ("b", ("db", "gpu")))),
    ]
    assert machine.handle([SlotsAnswered(frozenset({"a", "b"}))], NOW) == [
        appended(running("a"), running("b"), running("c")),
        Submit(("a", "b", "c")),
        WakeAt(None),
    ]


def test_a_refused_task_waits_and_is_asked_for_again_in_the_next_round() -> None:
    machine = started(graph_of(node("a"), node("b")), {"a": DB, "b": DB}, has_limits=True)
    assert machine.handle([SlotsAnswered(frozenset({"a"}))], NOW) == [
        appended(running("a")),
        Submit(("a",)),
        WakeAt(later(0.5)),
    ]
    assert machine.task("b").state is TaskState.PENDING
    at = later(0.5)
    assert machine.handle([TimePassed()], at) == [AcquireSlots((("b", ("db",)),))]
    assert machine.handle([SlotsAnswered(frozenset())], at) == [WakeAt(later(1))]  # refused again
    at = later(1)
    assert machine.handle([TimePassed()], at) == [AcquireSlots((("b", ("db",)),))]
    assert machine.handle([SlotsAnswered(frozenset({"b"}))], at) == [
        appended(running("b", at=at)),
        Submit(("b",)),
        WakeAt(None),
    ]


def test_slots_go_back_only_once_the_end_is_written() -> None:
    machine = started(chain_graph("a", "b"), {"a": DB}, has_limits=True)
    machine.handle([SlotsAnswered(frozenset({"a"}))], NOW)
    at = later(1)
    assert machine.handle([success("a"), TimePassed()], at) == [
        appended(event("a", "task.succeeded", succeeded_payload(), at), running("b", at=at)),
        Submit(("b",)),
        WakeAt(None),
    ]
    assert machine.handle([Written("hash-of-the-end")], at) == [ReleaseSlots(("a",))]
    assert machine.handle([Written("hash-of-the-end")], at) == []  # given back once
    assert machine.view().head_hash == "hash-of-the-end"


def test_a_task_waiting_for_its_retry_holds_no_slot() -> None:
    machine = started(chain_graph("a"), {"a": BOTH}, has_limits=True)
    machine.handle([SlotsAnswered(frozenset({"a"}))], NOW)
    at = later(1)
    retrying = {**failed_payload(), "delay": 5.0, "retry_at": iso(later(6))}
    assert machine.handle([failure("a", is_retryable=True), TimePassed()], at) == [
        appended(event("a", "task.retrying", retrying, at)),
        WakeAt(later(6)),
    ]
    assert machine.handle([Written("h")], at) == [ReleaseSlots(("a",))]
    at = later(6)
    assert machine.handle([TimePassed()], at) == [AcquireSlots((("a", ("db", "gpu")),))]
    assert machine.handle([SlotsAnswered(frozenset({"a"}))], at) == [
        appended(running("a", attempt=2, at=at)),
        Submit(("a",)),
        WakeAt(None),
    ]


def test_a_finished_run_gives_its_slots_back_before_its_end_is_written() -> None:
    machine = started(chain_graph("a"), {"a": DB}, has_limits=True)
    machine.handle([SlotsAnswered(frozenset({"a"}))], NOW)
    at = later(1)
    assert machine.handle([success("a")], at) == [
        appended(event("a", "task.succeeded", succeeded_payload(), at)),
        WakeAt(at),  # write the task's end first
    ]
    assert machine.handle([Written("h")], at) == [ReleaseSlots(("a",))]
    assert machine.handle([TimePassed()], at) == [
        appended(event(None, "run.succeeded", at=at)),
        Finished(RunState.SUCCEEDED),
    ]


def test_without_limits_no_slot_is_asked_for() -> None:
    machine = machine_of(chain_graph("a"), {"a": DB})
    assert machine.handle([START], NOW) == [
        appended(running_run(), running("a")),
        Submit(("a",)),
        WakeAt(None),
    ]


def test_a_waiting_task_asks_again_as_soon_as_a_slot_goes_back() -> None:
    machine = started(graph_of(node("a"), node("b")), {"a": DB, "b": DB}, has_limits=True)
    machine.handle([SlotsAnswered(frozenset({"a"}))], NOW)  # b waits for a's slot
    at = later(0.1)
    assert machine.handle([success("a"), TimePassed()], at) == [
        appended(event("a", "task.succeeded", succeeded_payload(), at)),
        AcquireSlots((("b", ("db",)),)),
    ]
    assert machine.handle([SlotsAnswered(frozenset())], at) == [WakeAt(later(0.6))]  # a's not back yet
    assert machine.handle([Written("h")], at) == [ReleaseSlots(("a",)), AcquireSlots((("b", ("db",)),))]
    assert machine.handle([SlotsAnswered(frozenset({"b"}))], at) == [
        appended(running("b", at=at)),
        Submit(("b",)),
        WakeAt(None),
    ]
