"""What the machine makes of an attempt's end: retries and their due times, failures and what
they do downstream (triggers, skips), infrastructure retries, stale outcomes, tasks that
cannot be submitted."""

from datetime import datetime, timedelta
from typing import Any

import pytest

from ledgerflow.engine.core.attempt_endings import INFRASTRUCTURE_RETRIES
from ledgerflow.engine.core.commands import Finished, IgnoreOutcome, Submit, WakeAt
from ledgerflow.engine.core.graph import Trigger
from ledgerflow.engine.core.policy import TaskPolicy
from ledgerflow.engine.core.states import RunState
from ledgerflow.engine.core.stimuli import NotSubmitted, TimePassed
from ledgerflow.engine.retry import RetryPolicy

from ..builders import chain_graph
from .machines import (
    appended,
    event,
    failed_payload,
    failure,
    graph_of,
    iso,
    later,
    node,
    running,
    skip,
    started,
    succeeded_payload,
    success,
)

RETRIED = TaskPolicy(retry=RetryPolicy(retries=2, delay=10.0, backoff=2.0))


def _retrying(attempt: int, delay: float, at: datetime, **extra: Any) -> dict[str, Any]:
    """The task.retrying payload of a failed attempt, due ``delay`` seconds after ``at``."""
    return {
        **failed_payload(attempt),
        "delay": delay,
        "retry_at": iso(at + timedelta(seconds=delay)),
        **extra,
    }


def test_a_retryable_failure_waits_until_its_recorded_due_time() -> None:
    machine = started(chain_graph("a", "b"), {"a": RETRIED})
    at = later(1)
    assert machine.handle([failure("a", is_retryable=True), TimePassed()], at) == [
        appended(event("a", "task.retrying", _retrying(1, 10.0, at), at)),
        WakeAt(later(11)),
    ]
    assert machine.handle([TimePassed()], later(5)) == [WakeAt(later(11))]  # not yet due
    assert machine.handle([TimePassed()], later(11)) == [
        appended(running("a", attempt=2, at=later(11))),
        Submit(("a",)),
        WakeAt(None),  # the retry is running: nothing else is due
    ]


def test_the_next_retry_waits_longer_and_the_last_failure_fails_the_run() -> None:
    machine = started(chain_graph("a", "b"), {"a": RETRIED})
    machine.handle([failure("a", is_retryable=True), TimePassed()], later(1))
    machine.handle([TimePassed()], later(11))
    at = later(12)
    assert machine.handle([failure("a", 2, is_retryable=True), TimePassed()], at) == [
        appended(event("a", "task.retrying", _retrying(2, 20.0, at), at)),  # backoff
        WakeAt(later(32)),
    ]
    machine.handle([TimePassed()], later(32))
    at = later(33)
    reason = "2 task(s) did not succeed, first 'a'"
    assert machine.handle([failure("a", 3, is_retryable=True), TimePassed()], at) == [
        appended(
            event("a", "task.failed", failed_payload(3), at),
            event("b", "task.upstream_failed", {"upstream": ["a"]}, at),
            event(None, "run.failed", {"reason": reason, "failed": ["a", "b"]}, at),
        ),
        Finished(RunState.FAILED),
    ]


def test_a_failure_that_is_not_retryable_fails_at_once() -> None:
    machine = started(chain_graph("a"), {"a": RETRIED})
    at = later(1)
    assert machine.handle([failure("a"), TimePassed()], at) == [
        appended(
            event("a", "task.failed", failed_payload(1), at),
            event(
                None, "run.failed", {"reason": "1 task(s) did not succeed, first 'a'", "failed": ["a"]}, at
            ),
        ),
        Finished(RunState.FAILED),
    ]


def test_the_earliest_of_several_retries_is_the_wake_up_time() -> None:
    slow = TaskPolicy(retry=RetryPolicy(retries=1, delay=30.0))
    machine = started(graph_of(node("a"), node("b")), {"a": RETRIED, "b": slow})
    at = later(1)
    assert machine.handle(
        [failure("b", is_retryable=True), failure("a", is_retryable=True), TimePassed()], at
    ) == [
        appended(
            event("b", "task.retrying", _retrying(1, 30.0, at), at),
            event("a", "task.retrying", _retrying(1, 10.0, at), at),
        ),
        WakeAt(later(11)),
    ]


def test_infrastructure_failures_retry_at_once_within_their_own_budget() -> None:
    machine = started(chain_graph("a"))
    for attempt in range(1, INFRASTRUCTURE_RETRIES + 1):
        at = later(attempt)
        assert machine.handle([failure("a", attempt, infrastructure=True), TimePassed()], at) == [
            appended(
                event("a", "task.retrying", _retrying(attempt, 0.0, at, infrastructure=True), at),
                running("a", attempt=attempt + 1, at=at),
            ),
            Submit(("a",)),
            WakeAt(None),
        ]
    at = later(10)
    last = INFRASTRUCTURE_RETRIES + 1
    assert machine.handle([failure("a", last, infrastructure=True), TimePassed()], at) == [
        appended(
            event("a", "task.failed", failed_payload(last), at),
            event(
                None, "run.failed", {"reason": "1 task(s) did not succeed, first 'a'", "failed": ["a"]}, at
            ),
        ),
        Finished(RunState.FAILED),
    ]


def test_the_infrastructure_budget_comes_on_top_of_the_task_s_retries() -> None:
    once = TaskPolicy(retry=RetryPolicy(retries=1))
    machine = started(chain_graph("a"), {"a": once})
    last = 1 + INFRASTRUCTURE_RETRIES
    for attempt in range(1, last + 1):
        machine.handle([failure("a", attempt, infrastructure=True), TimePassed()], later(attempt))
    assert machine.task("a").attempts == last + 1
    commands = machine.handle([failure("a", last + 1, infrastructure=True), TimePassed()], later(9))
    assert commands[-1] == Finished(RunState.FAILED)


@pytest.mark.parametrize(
    ("trigger", "runs"),
    [(Trigger.ALL_FINISHED, True), (Trigger.ANY_FAILED, True), (Trigger.ALL_SUCCESSFUL, False)],
)
def test_triggers_decide_what_runs_after_a_failure(trigger: Trigger, runs: bool) -> None:
    machine = started(graph_of(node("a"), node("after", "a", trigger=trigger)))
    at = later(1)
    commands = machine.handle([failure("a"), TimePassed()], at)
    if runs:
        assert commands == [
            appended(event("a", "task.failed", failed_payload(), at), running("after", at=at)),
            Submit(("after",)),
            WakeAt(None),
        ]
    else:
        reason = "2 task(s) did not succeed, first 'a'"
        assert commands == [
            appended(
                event("a", "task.failed", failed_payload(), at),
                event("after", "task.upstream_failed", {"upstream": ["a"]}, at),
                event(None, "run.failed", {"reason": reason, "failed": ["a", "after"]}, at),
            ),
            Finished(RunState.FAILED),
        ]


def test_an_any_failed_task_is_skipped_when_nothing_failed() -> None:
    machine = started(graph_of(node("a"), node("alert", "a", trigger=Trigger.ANY_FAILED)))
    at = later(1)
    assert machine.handle([success("a"), TimePassed()], at) == [
        appended(
            event("a", "task.succeeded", succeeded_payload(), at),
            event("alert", "task.skipped", {"reason": "trigger any_failed: no upstream task failed"}, at),
            event(None, "run.succeeded", at=at),
        ),
        Finished(RunState.SUCCEEDED),
    ]


def test_a_skip_propagates_down_the_chain_in_one_round() -> None:
    machine = started(
        graph_of(node("a"), node("b", "a"), node("c", "b"), node("d", "b", trigger=Trigger.ALL_FINISHED))
    )
    at = later(1)
    skipped = {"reason": "an upstream task was skipped"}
    assert machine.handle([skip("a"), TimePassed()], at) == [
        appended(
            event("a", "task.skipped", {"attempt": 1, "duration": 0.5, "reason": "nothing to do"}, at),
            event("b", "task.skipped", skipped, at),
            event("c", "task.skipped", skipped, at),
            running("d", at=at),
        ),
        Submit(("d",)),
        WakeAt(None),
    ]


def test_an_upstream_failure_propagates_down_the_chain_in_one_round() -> None:
    machine = started(chain_graph("a", "b", "c"))
    at = later(1)
    reason = "3 task(s) did not succeed, first 'a'"
    assert machine.handle([failure("a"), TimePassed()], at) == [
        appended(
            event("a", "task.failed", failed_payload(), at),
            event("b", "task.upstream_failed", {"upstream": ["a"]}, at),
            event("c", "task.upstream_failed", {"upstream": ["b"]}, at),
            event(None, "run.failed", {"reason": reason, "failed": ["a", "b", "c"]}, at),
        ),
        Finished(RunState.FAILED),
    ]


@pytest.mark.parametrize("attempt", [0, 2])
def test_an_outcome_of_another_attempt_is_ignored(attempt: int) -> None:
    machine = started(chain_graph("a", "b"))
    assert machine.handle([success("a", attempt), TimePassed()], later(1)) == [
        IgnoreOutcome("a", attempt),
        WakeAt(None),
    ]
    assert machine.in_flight == 1


def test_an_outcome_of_a_finished_task_is_ignored() -> None:
    machine = started(chain_graph("a", "b"))
    machine.handle([success("a"), TimePassed()], later(1))
    assert machine.handle([failure("a"), TimePassed()], later(2)) == [IgnoreOutcome("a", 1), WakeAt(None)]


def test_a_task_that_cannot_be_submitted_fails_and_its_downstream_follows() -> None:
    machine = started(chain_graph("a", "b", "c"))
    machine.handle([success("a"), TimePassed()], later(1))
    error = {
        "type": "ledgerflow.ResultRefused",
        "message": "task 'b' could not receive its inputs",
        "traceback": "",
    }
    at = later(2)
    reason = "2 task(s) did not succeed, first 'b'"
    assert machine.handle([NotSubmitted("b", error)], at) == [
        appended(
            event("b", "task.failed", {"attempt": 1, "error": error}, at),
            event("c", "task.upstream_failed", {"upstream": ["b"]}, at),
            event(None, "run.failed", {"reason": reason, "failed": ["b", "c"]}, at),
        ),
        Finished(RunState.FAILED),
    ]
    assert machine.in_flight == 0
