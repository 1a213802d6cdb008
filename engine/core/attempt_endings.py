"""How an attempt's end is recorded: succeeded, skipped, retrying, failed or cancelled."""

from datetime import datetime, timedelta
from typing import Any

from .events import EventType
from .policy import TaskPolicy
from .stimuli import AttemptEnded

INFRASTRUCTURE_RETRIES = 3
"""Extra attempts a task gets for an infrastructure failure (its worker lost), on top of its
own ``retries``: a task that keeps killing its workers ends FAILED, the cause recorded."""


def ending_event(
    ended: AttemptEnded, policy: TaskPolicy, now: datetime, cancel_reason: str | None
) -> tuple[EventType, dict[str, Any]]:
    """The event that records ``ended``. A retryable failure with attempts left becomes
    ``task.retrying`` (due after the policy's delay; an infrastructure failure at once, within
    its own budget). While the run is cancelled (``cancel_reason``), or when the body stopped
    for its run's cancel, an attempt that did not succeed or skip ends ``task.cancelled``."""
    payload = dict(ended.payload)
    if ended.status == "SUCCEEDED":
        return EventType.TASK_SUCCEEDED, payload
    if ended.status == "SKIPPED":
        return EventType.TASK_SKIPPED, payload
    if cancel_reason is not None or ended.was_cancelled:
        if ended.was_cancelled:
            payload.pop("error", None)  # it says no more than the reason
        return EventType.TASK_CANCELLED, {**payload, "reason": cancel_reason or "cancelled"}
    if ended.is_retryable and policy.retry.allows_another(ended.attempt):
        return EventType.TASK_RETRYING, _retrying(payload, policy.retry.delay_after(ended.attempt), now)
    if ended.infrastructure and ended.attempt <= policy.retry.retries + INFRASTRUCTURE_RETRIES:
        return EventType.TASK_RETRYING, {**_retrying(payload, 0.0, now), "infrastructure": True}
    return EventType.TASK_FAILED, payload


def _retrying(payload: dict[str, Any], delay: float, now: datetime) -> dict[str, Any]:
    retry_at = (now + timedelta(seconds=delay)).isoformat(timespec="microseconds")
    return {**payload, "delay": round(delay, 6), "retry_at": retry_at}
