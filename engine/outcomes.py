"""Turn an attempt's outcome into the events (and stored results) that record it."""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from ..executors.invocation import Outcome, OutcomeStatus
from ..storage.protocols import StoredResult
from .core.events import EventType
from .task import Task

INLINE_LIMIT = 1024  # bytes of JSON a result may have to travel inside its event
INFRASTRUCTURE_RETRIES = 3
"""Extra attempts a task gets for an infrastructure failure (its worker lost, see
``Outcome.infrastructure``), on top of its own ``retries``: a task that keeps killing its
workers ends FAILED, the cause recorded."""


@dataclass(frozen=True, slots=True)
class Recording:
    """What to record for one outcome: an event type, its payload, maybe a result to store."""

    type: EventType
    payload: dict[str, Any]
    stored: StoredResult | None = None


def record_outcome(run_id: str, task: Task[..., Any], outcome: Outcome, now: datetime) -> Recording:
    """The event for an outcome; a retryable failure with attempts left becomes task.retrying."""
    base: dict[str, Any] = {"attempt": outcome.attempt, "duration": round(outcome.duration, 6)}
    if outcome.worker:
        base["worker"] = outcome.worker
    match outcome.status:
        case OutcomeStatus.SUCCEEDED:
            payload, stored = result_payload(run_id, outcome)
            return Recording(EventType.TASK_SUCCEEDED, {**base, "result": payload}, stored)
        case OutcomeStatus.SKIPPED:
            return Recording(EventType.TASK_SKIPPED, {**base, "reason": outcome.skip_reason or ""})
        case OutcomeStatus.FAILED:
            assert outcome.error is not None
            base["error"] = outcome.error.to_payload()
            if outcome.is_retryable and task.retry.allows_another(outcome.attempt):
                delay = task.retry.delay_after(outcome.attempt)
                return Recording(EventType.TASK_RETRYING, _retrying(base, delay, now))
            budget = task.retry.retries + INFRASTRUCTURE_RETRIES
            if outcome.infrastructure and outcome.attempt <= budget:
                payload = {**_retrying(base, 0.0, now), "infrastructure": True}
                return Recording(EventType.TASK_RETRYING, payload)
            return Recording(EventType.TASK_FAILED, base)
    raise AssertionError(f"unknown outcome status {outcome.status!r}")


def _retrying(base: dict[str, Any], delay: float, now: datetime) -> dict[str, Any]:
    retry_at = (now + timedelta(seconds=delay)).isoformat(timespec="microseconds")
    return {**base, "delay": round(delay, 6), "retry_at": retry_at}


def result_payload(run_id: str, outcome: Outcome) -> tuple[dict[str, Any], StoredResult | None]:
    """Small JSON results travel inline; others are stored and referenced by the event."""
    encoded = outcome.result
    assert encoded is not None
    if encoded.format == "json" and len(encoded.data) <= INLINE_LIMIT:
        return {"inline": orjson.loads(encoded.data)}, None
    ref = f"{run_id}/{outcome.task_key}/{outcome.attempt}"
    payload = {
        "ref": ref,
        "format": encoded.format,
        "size": len(encoded.data),
        "sha256": hashlib.sha256(encoded.data).hexdigest(),
    }
    stored = StoredResult(
        ref=ref, run_id=run_id, task_key=outcome.task_key, format=encoded.format, data=encoded.data
    )
    return payload, stored
