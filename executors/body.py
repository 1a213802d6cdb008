"""Run one task attempt's body and turn whatever happens into an ``Outcome``; never raises.

A ``timeout=`` runs the body in a daemon thread and stops waiting for it when the time
is up. Python threads cannot be killed: the abandoned thread keeps running until its
body returns (or the process exits), and whatever it returns then is discarded.
"""

import os
import socket
import threading
import traceback
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ..results.codec import decode_result, decode_stored, encode
from ..results.errors import ObjectNotFound
from ..results.integrity import check_bytes, missing
from ..results.sinks import open_store
from ..results.writes import described, for_the_driver, is_inline, write_result
from .capture import AttemptLog, capturing
from .context import TaskContext, current_task
from .invocation import ErrorInfo, Invocation, Outcome, OutcomeStatus, Stored
from .signals import Skip, TaskTimeout
from .span_context import body_context
from .text import exception_text, readable_text

_HOST = socket.gethostname()
_worker = f"{_HOST}:{os.getpid()}"  # named again in a forked child (its own pid)


def _name_worker() -> None:
    global _worker
    _worker = f"{_HOST}:{os.getpid()}"


os.register_at_fork(after_in_child=_name_worker)


def local_worker() -> str:
    """This process as a worker name: ``hostname:pid``."""
    return _worker


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class, as recorded in ``ErrorInfo.type``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def error_info(exc: BaseException) -> ErrorInfo:
    """Describe an exception in plain data: qualified type, message and traceback (as
    readable text: valid UTF-8, whatever the exception holds)."""
    formatted = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return ErrorInfo(
        type=readable_text(qualified_name(type(exc))),
        message=exception_text(exc),
        traceback=readable_text(formatted),
    )


def failed_outcome(
    task_key: str,
    attempt: int,
    error: ErrorInfo,
    *,
    is_retryable: bool,
    started_at: datetime,
    worker: str | None,
    has_run: bool = False,
) -> Outcome:
    """A FAILED outcome ending now (``has_run``: its body started at ``started_at``)."""
    return Outcome(
        task_key=task_key,
        attempt=attempt,
        status=OutcomeStatus.FAILED,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        error=error,
        is_retryable=is_retryable,
        worker=worker,
        has_run=has_run,
    )


def input_failure(
    invocation: Invocation, exc: Exception, *, started_at: datetime, worker: str | None
) -> Outcome:
    """A FAILED outcome for an attempt whose inputs could not be resolved (not retryable)."""
    info = error_info(exc)
    message = f"task {invocation.task_key!r} could not receive its inputs: {info.message}"
    error = ErrorInfo(type=info.type, message=message, traceback=info.traceback)
    return failed_outcome(
        invocation.task_key,
        invocation.attempt,
        error,
        is_retryable=False,
        started_at=started_at,
        worker=worker,
    )


def outcome_value(outcome: Outcome) -> Any:
    """The value of an upstream outcome: decoded from its bytes, or the stored result's value
    held in memory (None if it produced no result)."""
    if outcome.result is None:
        return outcome.value
    return decode_result(outcome.result.format, outcome.result.data, outcome.result.compression)


def stored_value(source: Stored) -> Any:
    """A stored input's value, read here from its store: missing bytes, or bytes whose size or
    sha256 differ from the reference, raise ``ResultCorrupted`` (a pickle's signature over
    that sha256 was checked by the driver that sent the reference)."""
    ref = source.reference
    try:
        fetched = open_store(ref.store, source.options).read(ref.key)
    except ObjectNotFound:
        raise missing(ref) from None
    check_bytes(ref, fetched.data, fetched.sha256)
    return decode_stored(ref.key, ref.format, fetched.data, ref.compression)


def run_invocation(
    invocation: Invocation,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    *,
    worker: str | None = None,
) -> Outcome:
    """Run ``invocation.fn(*args, **kwargs)`` as one attempt and describe how it ended.

    ``args``/``kwargs`` are already resolved (no ``Upstream`` placeholders). ``worker``
    names where this runs (default ``hostname:pid``). What the body prints and logs
    comes back in ``Outcome.logs`` (see ``executors.capture``); where it is echoed to this
    process's console, ``invocation.masked`` is shown as ``***``.
    """
    worker = worker or local_worker()
    started_at = datetime.now(UTC)
    captured = AttemptLog(masked=invocation.masked)
    if invocation.timeout is None:
        outcome = _run_body(invocation, args, kwargs, started_at, worker, captured)
    else:
        outcome = _run_with_timeout(invocation, args, kwargs, started_at, worker, captured)
    logs = captured.lines()
    return replace(outcome, logs=logs) if logs else outcome  # most attempts print nothing


def _run_body(
    invocation: Invocation,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    started_at: datetime,
    worker: str,
    captured: AttemptLog,
) -> Outcome:
    task_context = TaskContext(invocation.run_id, invocation.task_key, invocation.attempt)
    token = current_task.set(task_context)
    try:
        with capturing(captured), body_context(invocation.trace):
            value = invocation.fn(*args, **kwargs)
    except Skip as exc:
        return Outcome(
            task_key=invocation.task_key,
            attempt=invocation.attempt,
            status=OutcomeStatus.SKIPPED,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            skip_reason=exception_text(exc) or None,
            worker=worker,
            has_run=True,
        )
    except BaseException as exc:  # user code may raise SystemExit & co: still an outcome
        is_retryable = isinstance(exc, invocation.retry_on)
        return failed_outcome(
            invocation.task_key,
            invocation.attempt,
            error_info(exc),
            is_retryable=is_retryable,
            started_at=started_at,
            worker=worker,
            has_run=True,
        )
    finally:
        current_task.reset(token)
    return _succeeded(invocation, value, started_at, worker)


def _succeeded(invocation: Invocation, value: Any, started_at: datetime, worker: str) -> Outcome:
    try:
        encoding = encode(value)
    except Exception as exc:
        value_type = readable_text(qualified_name(type(value)))
        message = f"task {invocation.task_key!r} returned a {value_type} that cannot be stored"
        error_type = "ledgerflow.ResultNotSerializable"
        return _not_stored(invocation, error_type, message, exc, started_at, worker, is_retryable=False)
    sink, run_id, task_key, attempt = (
        invocation.sink,
        invocation.run_id,
        invocation.task_key,
        invocation.attempt,
    )
    encoded, reference, is_kept = None, None, False  # is_kept: the value stays here, not its bytes
    try:
        if not sink.persist:
            reference, is_kept = described(run_id, task_key, attempt, encoding), not sink.to_driver
            encoded = None if is_kept else for_the_driver(sink, encoding)
        elif sink.url is None or is_inline(sink, encoding):
            encoded = for_the_driver(sink, encoding)
        else:
            reference, is_kept = write_result(sink, run_id, task_key, attempt, encoding), True
    except Exception as exc:  # fsspec backends raise anything (OSError, botocore errors...)
        message = f"task {task_key!r}: its result could not be written to {sink.url or 'the database'}"
        is_retryable = isinstance(exc, invocation.retry_on)  # a store away: as the task's own errors
        error_type = "ledgerflow.ResultNotWritten"
        return _not_stored(
            invocation, error_type, message, exc, started_at, worker, is_retryable=is_retryable
        )
    return Outcome(
        task_key=invocation.task_key,
        attempt=invocation.attempt,
        status=OutcomeStatus.SUCCEEDED,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        result=encoded,
        reference=reference,
        value=value if is_kept else None,
        length=len(value) if reference is not None and isinstance(value, list | tuple) else None,
        worker=worker,
        has_run=True,
    )


def _not_stored(
    invocation: Invocation,
    error_type: str,
    message: str,
    exc: Exception,
    started_at: datetime,
    worker: str,
    *,
    is_retryable: bool,
) -> Outcome:
    error = ErrorInfo(
        type=error_type, message=f"{message}: {exception_text(exc)}", traceback=error_info(exc).traceback
    )
    return failed_outcome(
        invocation.task_key,
        invocation.attempt,
        error,
        is_retryable=is_retryable,
        started_at=started_at,
        worker=worker,
        has_run=True,
    )


def _run_with_timeout(
    invocation: Invocation,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    started_at: datetime,
    worker: str,
    captured: AttemptLog,
) -> Outcome:
    finished: list[Outcome] = []
    done = threading.Event()

    def target() -> None:
        try:
            finished.append(_run_body(invocation, args, kwargs, started_at, worker, captured))
        finally:
            done.set()

    name = f"ledgerflow {invocation.task_key} attempt {invocation.attempt}"
    threading.Thread(target=target, name=name, daemon=True).start()
    if done.wait(invocation.timeout) and finished:
        return finished[0]
    error = ErrorInfo(
        type="ledgerflow.TaskTimeout",
        message=(
            f"task {invocation.task_key!r} (attempt {invocation.attempt}) did not finish "
            f"within its timeout of {invocation.timeout} s; its thread was abandoned "
            "(Python threads cannot be killed) and may still be running"
        ),
        traceback="",
    )
    return failed_outcome(
        invocation.task_key,
        invocation.attempt,
        error,
        is_retryable=issubclass(TaskTimeout, invocation.retry_on),
        started_at=started_at,
        worker=worker,
        has_run=True,
    )
