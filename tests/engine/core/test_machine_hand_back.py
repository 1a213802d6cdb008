"""A driver hands a run back (its worker is stopping): it records why and lets go, the run
still RUNNING; the next driver starts a new attempt of each task left running. Replayed
from a recorded log, the hand-back comes out the same."""

import pytest

from ledgerflow.engine.core.commands import Finished, StopWork, Submit, WakeAt
from ledgerflow.engine.core.errors import InvalidEvent
from ledgerflow.engine.core.fold import fold
from ledgerflow.engine.core.states import RunState, TaskState
from ledgerflow.engine.core.stimuli import CancelRequested, HandBack, Started, WorkStopped

from ..builders import LogBuilder, chain_graph
from .machines import (
    OWNER,
    appended,
    event,
    graph_of,
    later,
    machine_from,
    node,
    running,
    started,
    succeeded_payload,
    success,
)
from .replayer import recorded, replay

WHY = "worker stopping"
HANDED_BACK = {"reason": WHY, "owner": OWNER}


def test_a_handed_back_run_stays_running_with_its_attempts_open_and_no_driver() -> None:
    machine = started(graph_of(node("a"), node("b"), node("c", "a")))
    at = later(1)
    assert machine.handle([success("b"), HandBack(WHY)], at) == [
        appended(
            event("b", "task.succeeded", succeeded_payload(), at),
            event(None, "run.handed_back", HANDED_BACK, at),
        ),
        Finished(RunState.RUNNING),
    ]
    assert machine.is_finished and machine.in_flight == 0
    view = machine.view()
    assert (view.state, view.owner) == (RunState.RUNNING, None)
    assert {key: task.state for key, task in view.tasks.items()} == {
        "a": TaskState.RUNNING, "b": TaskState.SUCCEEDED, "c": TaskState.PENDING,
    }  # fmt: skip
    assert machine.handle([HandBack(WHY)], later(2)) == []  # once only


def _handed_back_log() -> LogBuilder:
    """a ran (attempt 1) and succeeded, b was running when its driver handed the run back."""
    log = LogBuilder(chain_graph("a", "b"))
    log.add(None, "run.running", {"owner": OWNER, "reason": "worker"})
    log.add("a", "task.running", {"attempt": 1})
    log.add("a", "task.succeeded", succeeded_payload())
    log.add("b", "task.running", {"attempt": 1})
    log.add(None, "run.handed_back", HANDED_BACK)
    return log


def test_the_next_driver_starts_a_new_attempt_of_what_was_running() -> None:
    machine = machine_from(_handed_back_log().events, {})
    at = later(2)
    assert machine.handle([Started("driver-2", "resume")], at) == [
        appended(
            event(None, "run.running", {"owner": "driver-2", "reason": "resume"}, at),
            running("b", attempt=2, at=at, reason="orphaned"),
        ),
        Submit(("b",)),
        WakeAt(None),
    ]
    assert machine.view().owner == "driver-2"


def test_a_run_handed_back_while_cancelling_goes_on_cancelling_with_its_next_driver() -> None:
    machine = started(chain_graph("a"))
    request = {"reason": "no longer needed", "requested_by": "alice"}
    machine.handle([CancelRequested(request)], later(1))
    assert machine.handle([HandBack(WHY)], later(2)) == [
        appended(event(None, "run.handed_back", HANDED_BACK, later(2))),
        Finished(RunState.RUNNING),
    ]
    log = LogBuilder(chain_graph("a"))
    log.add(None, "run.running", {"owner": OWNER, "reason": "start"})
    log.add("a", "task.running", {"attempt": 1})
    log.add(None, "run.cancel_requested", request)
    log.add(None, "run.handed_back", HANDED_BACK)
    following = machine_from(log.events, {})
    commands = following.handle([Started("driver-2", "resume")], later(3))
    assert commands[-1] == StopWork()
    assert following.handle([WorkStopped()], later(4))[-1] == Finished(RunState.CANCELLED)


def test_a_run_whose_end_is_recorded_is_not_handed_back() -> None:
    machine = started(chain_graph("a"))
    machine.handle([success("a")], later(1))
    assert machine.handle([HandBack(WHY)], later(2)) == []
    assert machine.view().state is RunState.SUCCEEDED


def test_only_a_running_run_can_be_handed_back() -> None:
    log = LogBuilder(chain_graph("a"))
    log.add(None, "run.handed_back", HANDED_BACK)  # still PENDING
    with pytest.raises(InvalidEvent, match="only a RUNNING run can be handed back"):
        fold(log.events)


def test_a_log_with_a_hand_back_replays_to_the_same_events() -> None:
    log = _handed_back_log()
    log.add(None, "run.running", {"owner": "driver-2", "reason": "resume"})
    log.add("b", "task.running", {"attempt": 2, "reason": "orphaned"})
    log.add("b", "task.succeeded", succeeded_payload(attempt=2))
    log.add(None, "run.succeeded", {})
    handed_out = replay(log.events, {})
    assert recorded(handed_out) == recorded(log.events[1:])
