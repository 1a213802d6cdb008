"""What ends a cancelled run: the reason it records and the events that close it."""

from collections.abc import Mapping
from typing import Any

from .events import EventType
from .fold import RunView
from .states import TaskState

TIMEOUT_REASON = "timeout"
CancelEvent = tuple[str | None, EventType, dict[str, Any]]
_OPEN = (TaskState.PENDING, TaskState.RUNNING, TaskState.RETRYING)


def closing_events(view: RunView, reason: str) -> list[CancelEvent]:
    """``task.cancelled`` for every task that has not finished, then ``run.cancelled``."""
    events: list[CancelEvent] = [
        (task.key, EventType.TASK_CANCELLED, {"reason": reason})
        for task in view.tasks.values()
        if task.state in _OPEN
    ]
    events.append((None, EventType.RUN_CANCELLED, {"reason": reason}))
    return events


def reason_of(request: Mapping[str, Any]) -> str:
    """What the cancel events record as their reason."""
    return str(request.get("reason") or "cancelled")


def timeout_request(view: RunView, owner: str) -> dict[str, Any]:
    """The ``run.cancel_requested`` payload of a run whose timeout passed."""
    return {"reason": TIMEOUT_REASON, "requested_by": owner, "timeout": view.timeout}
