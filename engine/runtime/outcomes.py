"""An attempt's outcome as the machine is told it, and the result it stores."""

from collections.abc import Callable
from typing import Any

import orjson

from ...executors.context import CANCELLED_ERROR
from ...executors.invocation import Outcome, OutcomeStatus
from ...results.codec import JSON, is_signed
from ...results.integrity import sha256_of
from ...results.refs import DATABASE, ResultRef, database_key
from ...storage.protocols import StoredResult
from ..core.events import unpersisted_result
from ..core.stimuli import AttemptEnded


def attempt_ended(
    run_id: str, outcome: Outcome, inline_limit: int, sign_reference: Callable[[str], str]
) -> tuple[AttemptEnded, StoredResult | None]:
    """The stimulus of an outcome, and its result to store (None: inline, stored by the
    executor, or no result); ``sign_reference`` signs the sha256 of a pickle an executor stored."""
    payload: dict[str, Any] = {"attempt": outcome.attempt, "duration": round(outcome.duration, 6)}
    if outcome.has_run:  # when the body ran, where it ran (the fold prefers it to event times)
        payload["started_at"] = outcome.started_at.isoformat(timespec="microseconds")
        payload["finished_at"] = outcome.finished_at.isoformat(timespec="microseconds")
    if outcome.worker:
        payload["worker"] = outcome.worker
    stored = None
    if outcome.status is OutcomeStatus.SUCCEEDED:
        payload["result"], stored = result_payload(run_id, outcome, inline_limit, sign_reference)
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


def result_payload(
    run_id: str, outcome: Outcome, inline_limit: int, sign_reference: Callable[[str], str]
) -> tuple[dict[str, Any], StoredResult | None]:
    """Small JSON results travel inline; a result the executor stored is referenced with its
    store, size and sha256 (a pickle's reference signed), one not persisted is described by its
    format, size and sha256; others go to the database."""
    ref = outcome.reference
    if ref is not None:
        if not ref.is_persisted:
            reference = unpersisted_result(ref.format, ref.size, ref.sha256)
        else:
            reference = ref.to_payload()
            if is_signed(ref.format):
                reference["signature"] = sign_reference(ref.sha256)
        if outcome.length is not None:  # a map over it needs no load of it
            reference["length"] = outcome.length
        return reference, None
    encoded = outcome.result
    assert encoded is not None
    if encoded.format == JSON and encoded.compression is None and len(encoded.data) <= inline_limit:
        return {"inline": orjson.loads(encoded.data)}, None
    key = database_key(run_id, outcome.task_key, outcome.attempt)
    sha256 = sha256_of(encoded.data)
    ref = ResultRef(DATABASE, key, encoded.format, len(encoded.data), sha256, encoded.compression)
    stored = StoredResult(
        ref=key, run_id=run_id, task_key=outcome.task_key, format=encoded.format, data=encoded.data
    )
    return ref.to_payload(), stored
