"""How a run ends other than by its tasks: a cancel request, the flow's timeout; and what is
recorded whatever the run's state (hook deliveries), redacted before it is folded."""

from collections.abc import Mapping
from typing import Any

from ledgerflow.engine.core.commands import Finished, StopWork, Submit, WakeAt
from ledgerflow.engine.core.machine import RunMachine
from ledgerflow.engine.core.states import RunState, TaskState
from ledgerflow.engine.core.stimuli import (
    AttemptEnded,
    CancelRequested,
    HookDelivered,
    TimePassed,
    WorkStopped,
)

from ..builders import LogBuilder, chain_graph
from .machines import (
    NOW,
    START,
    appended,
    event,
    failed_payload,
    failure,
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

REQUEST = {"reason": "no longer needed", "requested_by": "alice", "requested_at": "2026-01-01T01:00:01+00:00"}
REASON = REQUEST["reason"]


def _cancelling() -> RunMachine:
    """a and b running, c waiting for a; cancelled at ``later(1)``."""
    machine = started(graph_of(node("a"), node("b"), node("c", "a")))
    at = later(1)
    assert machine.handle([CancelRequested(REQUEST)], at) == [
        appended(event(None, "run.cancel_requested", REQUEST, at)),
        StopWork(),
    ]
    return machine


def test_a_cancel_stops_the_work_and_then_closes_what_did_not_finish() -> None:
    machine = _cancelling()
    at = later(2)
    assert machine.handle([WorkStopped()], at) == [
        appended(
            event("a", "task.cancelled", {"reason": REASON}, at),
            event("b", "task.cancelled", {"reason": REASON}, at),
            event("c", "task.cancelled", {"reason": REASON}, at),
            event(None, "run.cancelled", {"reason": REASON}, at),
        ),
        Finished(RunState.CANCELLED),
    ]
    assert machine.is_finished and machine.in_flight == 0


def test_outcomes_during_a_cancel_end_cancelled_unless_they_succeeded() -> None:
    machine = _cancelling()
    at = later(2)
    assert machine.handle([success("a"), failure("b"), TimePassed()], at) == [
        appended(
            event("a", "task.succeeded", succeeded_payload(), at),
            event("b", "task.cancelled", {**failed_payload(), "reason": REASON}, at),
        ),
    ]  # nothing starts while cancelling: c stays pending, and no wake-up is asked for
    assert machine.task("c").state is TaskState.PENDING
    assert machine.handle([WorkStopped()], at) == [
        appended(
            event("c", "task.cancelled", {"reason": REASON}, at),
            event(None, "run.cancelled", {"reason": REASON}, at),
        ),
        Finished(RunState.CANCELLED),
    ]


def test_a_body_stopped_by_the_cancel_records_the_reason_not_its_error() -> None:
    machine = _cancelling()
    at = later(2)
    assert machine.handle([failure("a", was_cancelled=True), TimePassed()], at) == [
        appended(event("a", "task.cancelled", {"attempt": 1, "duration": 0.5, "reason": REASON}, at)),
    ]


def test_a_body_that_stopped_for_its_cancel_before_the_driver_knew_is_cancelled() -> None:
    machine = started(chain_graph("a", "b"))
    at = later(1)
    assert machine.handle([failure("a", was_cancelled=True), TimePassed()], at) == [
        appended(
            event("a", "task.cancelled", {"attempt": 1, "duration": 0.5, "reason": "cancelled"}, at),
            event("b", "task.upstream_failed", {"upstream": ["a"]}, at),
            event(
                None, "run.failed", {"reason": "1 task(s) did not succeed, first 'b'", "failed": ["b"]}, at
            ),
        ),
        Finished(RunState.FAILED),
    ]


def test_a_second_request_changes_nothing() -> None:
    machine = _cancelling()
    assert machine.handle([CancelRequested({"reason": "again"})], later(2)) == []


def test_a_request_before_the_start_cancels_at_the_start() -> None:
    machine = machine_of(chain_graph("a"))
    assert machine.handle([CancelRequested(REQUEST)], NOW) == []
    assert machine.handle([START], NOW) == [
        appended(running_run(), event(None, "run.cancel_requested", REQUEST)),
        StopWork(),
    ]


def _with_timeout(seconds: float) -> LogBuilder:
    log = LogBuilder(chain_graph("a", "b"))
    created = log.events[0]
    log.events[0] = created._replace(payload={**created.payload, "timeout": seconds})
    return log


def test_the_flow_timeout_is_a_wake_up_time_and_cancels_the_run_once_passed() -> None:
    machine = machine_of(_with_timeout(30))
    assert machine.handle([START], NOW) == [
        appended(running_run(), running("a")),
        Submit(("a",)),
        WakeAt(later(30)),
    ]
    assert machine.handle([TimePassed()], later(29)) == [WakeAt(later(30))]
    at = later(30)
    request = {"reason": "timeout", "requested_by": "driver-1", "timeout": 30.0}
    assert machine.handle([TimePassed()], at) == [
        appended(event(None, "run.cancel_requested", request, at)),
        StopWork(),
    ]
    assert machine.handle([failure("a", was_cancelled=True), TimePassed()], later(31)) == [
        appended(
            event("a", "task.cancelled", {"attempt": 1, "duration": 0.5, "reason": "timeout"}, later(31))
        ),
    ]
    at = later(32)
    assert machine.handle([WorkStopped()], at) == [
        appended(
            event("b", "task.cancelled", {"reason": "timeout"}, at),
            event(None, "run.cancelled", {"reason": "timeout"}, at),
        ),
        Finished(RunState.CANCELLED),
    ]


def test_an_outcome_after_the_timeout_is_recorded_and_then_the_run_is_cancelled() -> None:
    machine = started(_with_timeout(30))
    at = later(40)
    request = {"reason": "timeout", "requested_by": "driver-1", "timeout": 30.0}
    assert machine.handle([success("a"), TimePassed()], at) == [
        appended(
            event("a", "task.succeeded", succeeded_payload(), at),
            event(None, "run.cancel_requested", request, at),
        ),
        StopWork(),
    ]


def test_a_hook_delivery_is_recorded_even_after_the_run_finished() -> None:
    machine = started(chain_graph("a"))
    machine.handle([success("a")], later(1))
    assert machine.is_finished
    sent = {"hook": "notify", "trigger_seq": 4, "attempts": 1}
    assert machine.handle([HookDelivered("hook.sent", sent)], later(2)) == [
        appended(event(None, "hook.sent", sent, later(2)))
    ]
    failed = {"hook": "page", "trigger_seq": 4, "attempts": 3, "reason": "HTTP 500"}
    assert machine.handle([HookDelivered("hook.failed", failed)], later(3)) == [
        appended(event(None, "hook.failed", failed, later(3)))
    ]
    assert machine.view().state is RunState.SUCCEEDED


def test_a_hook_delivery_during_the_run_decides_nothing() -> None:
    machine = started(chain_graph("a"))
    sent = {"hook": "notify", "trigger_seq": 2, "attempts": 1}
    assert machine.handle([HookDelivered("hook.sent", sent)], later(1)) == [
        appended(event(None, "hook.sent", sent, later(1)))
    ]


def _hidden(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    return {key: ("***" if value == "s3cret" else value) for key, value in payload.items()}


def test_every_payload_is_redacted_before_it_is_folded_and_handed_out() -> None:
    machine = started(chain_graph("a"), redact=_hidden)
    at = later(1)
    leaky = AttemptEnded("a", 1, "SUCCEEDED", {**succeeded_payload(), "note": "s3cret"})
    assert machine.handle([leaky], at)[0] == appended(
        event("a", "task.succeeded", {**succeeded_payload(), "note": "***"}, at),
        event(None, "run.succeeded", at=at),
    )
    assert machine.view().tasks["a"].result == {"inline": None}
