"""An attempt's outcome as the machine is told it, and the result it stores."""

from typing import Any

import orjson

from ...executors.context import CANCELLED_ERROR
from ...executors.invocation import Outcome, OutcomeStatus
from ...results.integrity import sha256_of
from ...results.refs import DATABASE, ResultRef, database_key
from ...storage.protocols import StoredResult
from ..core.stimuli import AttemptEnded

INLINE_LIMIT = 1024  # bytes of JSON a result may have to travel inside its event


def attempt_ended(run_id: str, outcome: Outcome) -> tuple[AttemptEnded, StoredResult | None]:
    """The stimulus of an outcome, and its result to store (None: inline or no result)."""
    payload: dict[str, Any] = {"attempt": outcome.attempt, "duration": round(outcome.duration, 6)}
    if outcome.worker:
        payload["worker"] = outcome.worker
    stored = None
    if outcome.status is OutcomeStatus.SUCCEEDED:
        payload["result"], stored = result_payload(run_id, outcome)
    elif outcome.status is OutcomeStatus.SKIPPED:
        payload["reason"] = outcome.skip_reason or ""
    else:
        assert outcome.error is not None
        payload["error"] = outcome.error.to_payload()
    ended = AttemptEnded(
        task_key=outcome.task_key,
        attempt=outcome.attempt,
        status=outcome.status.value,
        payload=payload,
        is_retryable=outcome.is_retryable,
        infrastructure=outcome.infrastructure,
        was_cancelled=outcome.error is not None and outcome.error.type == CANCELLED_ERROR,
    )
    return ended, stored


def result_payload(run_id: str, outcome: Outcome) -> tuple[dict[str, Any], StoredResult | None]:
    """Small JSON results travel inline; others are stored and referenced by the event."""
    encoded = outcome.result
    assert encoded is not None
    if encoded.format == "json" and len(encoded.data) <= INLINE_LIMIT:
        return {"inline": orjson.loads(encoded.data)}, None
    key = database_key(run_id, outcome.task_key, outcome.attempt)
    ref = ResultRef(DATABASE, key, encoded.format, len(encoded.data), sha256_of(encoded.data))
    stored = StoredResult(
        ref=key, run_id=run_id, task_key=outcome.task_key, format=encoded.format, data=encoded.data
    )
    return ref.to_payload(), stored
