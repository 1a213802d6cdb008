"""Dynamic maps as the machine expands them: it asks for the length of the mapped input,
records the children and starts them, or fails the map when its input cannot be mapped."""

from ledgerflow.engine.core.commands import Finished, MeasureMaps, Submit, WakeAt
from ledgerflow.engine.core.machine import RunMachine
from ledgerflow.engine.core.states import RunState
from ledgerflow.engine.core.stimuli import MapMeasured, TimePassed

from .machines import (
    appended,
    event,
    failed_payload,
    failure,
    graph_of,
    later,
    node,
    running,
    started,
    succeeded_payload,
    success,
)

MAPPED = graph_of(node("src"), node("double", "src", map_over=("src",)), node("total", "double"))


def _measuring() -> RunMachine:
    machine = started(MAPPED)
    at = later(1)
    assert machine.handle([success("src", value=[1, 2]), TimePassed()], at) == [
        appended(event("src", "task.succeeded", succeeded_payload(value=[1, 2]), at)),
        MeasureMaps(("double",)),
    ]
    return machine


def test_a_measured_map_records_its_children_and_starts_them() -> None:
    machine = _measuring()
    at = later(1)
    assert machine.handle([MapMeasured("double", count=2)], at) == [
        appended(
            event("double", "task.mapped", {"count": 2}, at),
            running("double[0]", at=at),
            running("double[1]", at=at),
        ),
        Submit(("double[0]", "double[1]")),
        WakeAt(None),
    ]
    at = later(2)
    assert machine.handle([success("double[1]"), success("double[0]"), TimePassed()], at) == [
        appended(
            event("double[1]", "task.succeeded", succeeded_payload(), at),
            event("double[0]", "task.succeeded", succeeded_payload(), at),
            running("total", at=at),
        ),
        Submit(("total",)),
        WakeAt(None),
    ]


def test_an_empty_map_lets_its_downstream_run() -> None:
    machine = _measuring()
    at = later(1)
    assert machine.handle([MapMeasured("double", count=0)], at) == [
        appended(event("double", "task.mapped", {"count": 0}, at), running("total", at=at)),
        Submit(("total",)),
        WakeAt(None),
    ]


def test_a_map_whose_input_cannot_be_mapped_fails_and_its_downstream_follows() -> None:
    machine = _measuring()
    at = later(1)
    error = {"type": "ValueError", "message": "cannot map over inputs of different lengths", "traceback": ""}
    reason = "2 task(s) did not succeed, first 'double'"
    assert machine.handle([MapMeasured("double", error=error)], at) == [
        appended(
            event("double", "task.failed", {"attempt": 0, "error": error}, at),
            event("total", "task.upstream_failed", {"upstream": ["double"]}, at),
            event(None, "run.failed", {"reason": reason, "failed": ["double", "total"]}, at),
        ),
        Finished(RunState.FAILED),
    ]


def test_a_failed_child_fails_the_map_s_downstream() -> None:
    machine = _measuring()
    machine.handle([MapMeasured("double", count=2)], later(1))
    at = later(2)
    reason = "2 task(s) did not succeed, first 'total'"  # the run's tasks in order: children last
    assert machine.handle([failure("double[0]"), success("double[1]"), TimePassed()], at) == [
        appended(
            event("double[0]", "task.failed", failed_payload(), at),
            event("double[1]", "task.succeeded", succeeded_payload(), at),
            event("total", "task.upstream_failed", {"upstream": ["double"]}, at),
            event(None, "run.failed", {"reason": reason, "failed": ["total", "double[0]"]}, at),
        ),
        Finished(RunState.FAILED),
    ]
