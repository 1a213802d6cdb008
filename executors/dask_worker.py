"""What runs on a Dask worker for the Dask executor: a chunk of task bodies, in turn.

Importable on every worker (ledgerflow is installed there); the task bodies themselves
arrive pickled, so that one a worker cannot load fails alone with a clear error.
"""

import concurrent.futures
import pickle
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import distributed
from dask.sizeof import sizeof

from .arguments import resolve_arguments
from .body import (
    error_info,
    failed_outcome,
    input_failure,
    local_worker,
    outcome_value,
    run_invocation,
    stored_value,
)
from .dask_guard import CLAIMS_NAME, REPORTED, send_claim
from .invocation import ErrorInfo, Invocation, Outcome, OutcomeStatus, Stored
from .text import exception_text

# What the worker gets of an invocation: its fields as a plain tuple (much cheaper to
# pickle than the dataclass), inline input values, {input key: (Dask key, position)}.
Payload = tuple[tuple[Any, ...], dict[str, Any], dict[str, tuple[str, int]]]

_OUTCOME_FIELDS = 1_000  # bytes an outcome's own fields take, about
START_REFUSED = "ledgerflow.StartRefused"  # the error type of a member the guard kept from running again
UPSTREAM_LOST = "ledgerflow.UpstreamLost"  # ... of a member whose upstream value was lost


def run_members(
    headers: bytes,
    blob: bytes,
    upstreams: Mapping[str, list[Outcome]],
    reports: bool = False,
    *,
    guarded: bool = False,
) -> list[Outcome]:
    """On a worker: run each member's body in turn; ``upstreams`` maps Dask keys to outcomes.

    ``headers`` (pickled (task key, attempt) pairs: plain data, and not a list Dask would
    walk) name the members even when ``blob`` cannot be loaded. If ``guarded``, the scheduler's
    ``AttemptGuard`` is told first (see ``dask_guard``): a task that started before runs no
    body again. If ``reports``, the outcomes without the values of stored results also go to
    the guard with the task's end, for the driver (the full ones stay in Dask memory for the
    downstream tasks).
    """
    try:
        dask_worker: distributed.Worker | None = distributed.get_worker()
    except ValueError:  # not on a worker (e.g. a synchronous scheduler)
        dask_worker = None
    outcomes = _run_all(headers, blob, upstreams, dask_worker, guarded)
    if reports and dask_worker is not None:
        _report(dask_worker, outcomes)
    return outcomes


def _run_all(
    headers: bytes,
    blob: bytes,
    upstreams: Mapping[str, list[Outcome]],
    dask_worker: distributed.Worker | None,
    guarded: bool,
) -> list[Outcome]:
    worker = dask_worker.address if dask_worker is not None else local_worker()
    started_at = datetime.now(UTC)
    claim = _send_claim(dask_worker) if guarded and dask_worker is not None else None
    try:
        payloads = pickle.loads(blob)  # while the claim goes out
    except Exception as exc:
        members = pickle.loads(headers)
        return [_not_loadable(key, attempt, exc, started_at, worker) for key, attempt in members]
    if claim is not None and (refusal := _claim_answer(claim)) is not None:
        reason, ran_on = refusal
        return [
            _refused(key, attempt, reason, started_at, ran_on or worker)
            for key, attempt in pickle.loads(headers)
        ]
    return [_run_member(payload, upstreams, worker) for payload in payloads]


def _report(worker: distributed.Worker, outcomes: list[Outcome]) -> None:
    """Put the light outcomes in this task's metadata: Dask sends them to the scheduler with the
    task's end, where the driver takes them (see ``dask_guard.AttemptGuard.outcomes``)."""
    task = worker.state.tasks.get(worker.get_current_task())
    if task is not None:  # else forgotten meanwhile: the driver no longer waits for it
        task.metadata[REPORTED] = pickle.dumps([outcome.light() for outcome in outcomes], protocol=5)


def _send_claim(worker: distributed.Worker) -> concurrent.futures.Future[Any]:
    """This task's claim to the scheduler's ``AttemptGuard``: sent by the worker's ``StartClaims``
    as the task started executing (or now, from this thread, if the worker has none)."""
    key = str(worker.get_current_task())  # ours are strings
    sent: dict[str, concurrent.futures.Future[Any]] = getattr(worker.plugins.get(CLAIMS_NAME), "claims", {})
    claim = sent.pop(key, None)
    return claim if claim is not None else send_claim(worker, key)


def _claim_answer(claim: concurrent.futures.Future[Any]) -> tuple[str, str | None] | None:
    """Wait until the claim is written (and answered, if it asks): before any body runs, so the
    scheduler learns of the start even if a body kills this process at once. None if the task
    may start, else why not and the worker it ran on before."""
    try:
        answer = claim.result()
    except Exception as exc:  # the scheduler is unreachable: the task could not report anyway
        return f"the scheduler could not be told that it starts ({exception_text(exc)})", None
    if answer is None:
        return None
    return str(answer.get("reason")), answer.get("worker") or None


def _run_member(
    payload: Payload,
    upstreams: Mapping[str, list[Outcome]],
    worker: str,
) -> Outcome:
    fields, values, links = payload
    run_id, task_key, attempt, fn, args, kwargs, timeout, retry_on, masked, sink, trace = fields
    invocation = Invocation(
        run_id, task_key, attempt, fn, args, kwargs, timeout=timeout, retry_on=retry_on, masked=masked,
        sink=sink, trace=trace,
    )  # fmt: skip
    try:
        for key, value in values.items():
            if isinstance(value, Stored):  # a resumed run's upstream: read here, not via the driver
                values[key] = stored_value(value)
        for key, (dask_key, position) in links.items():
            upstream = upstreams[dask_key][position]
            if upstream.status is not OutcomeStatus.SUCCEEDED:  # a re-run the guard refused
                return _upstream_lost(invocation, upstream, worker)
            values[key] = outcome_value(upstream)
        args, kwargs = resolve_arguments(invocation.args, invocation.kwargs, values)
    except Exception as exc:
        return input_failure(invocation, exc, started_at=datetime.now(UTC), worker=worker)
    return run_invocation(invocation, args, kwargs, worker=worker)


def _outcome_size(outcome: Outcome) -> int:
    """What an outcome weighs in a worker's memory: the value it holds, or its encoded bytes (so
    Dask runs a reader where the data is and counts the memory it takes)."""
    held = sizeof(outcome.value) if outcome.value is not None else 0
    return _OUTCOME_FIELDS + held + (len(outcome.result.data) if outcome.result is not None else 0)


sizeof.register(Outcome, _outcome_size)


def light_outcomes(outcomes: list[Outcome]) -> list[Outcome]:
    """On a worker: a chunk's outcomes without the values of stored results, for the driver
    (the full outcomes stay in Dask memory for the downstream tasks), where the scheduler's
    guard cannot take them reported."""
    return [outcome.light() for outcome in outcomes]


def _refused(task_key: str, attempt: int, refusal: str, started_at: datetime, worker: str) -> Outcome:
    """The outcome of a member the guard kept from running (``worker``: where it ran before)."""
    message = f"task {task_key!r} (attempt {attempt}) is not run again: {refusal}"
    error = ErrorInfo(START_REFUSED, message, traceback="")
    outcome = failed_outcome(
        task_key, attempt, error, is_retryable=True, started_at=started_at, worker=worker
    )
    return replace(outcome, infrastructure=True)


def _upstream_lost(invocation: Invocation, upstream: Outcome, worker: str) -> Outcome:
    """The outcome of a member whose upstream value was lost with its worker (its body does not
    run): an infrastructure failure, retried with the value from the driver or its store."""
    message = (
        f"task {invocation.task_key!r}: the result of {upstream.task_key!r} was lost with the Dask "
        "worker that held it"
    )
    error = ErrorInfo(UPSTREAM_LOST, message, traceback="")
    outcome = failed_outcome(
        invocation.task_key, invocation.attempt, error, is_retryable=True, started_at=datetime.now(UTC),
        worker=worker,
    )  # fmt: skip
    return replace(outcome, infrastructure=True)


def _not_loadable(task_key: str, attempt: int, exc: Exception, started_at: datetime, worker: str) -> Outcome:
    info = error_info(exc)
    message = (
        f"task {task_key!r} cannot be loaded on worker {worker}: {info.message}; make the "
        "module of its function (and arguments) importable on the workers"
    )
    error = ErrorInfo("ledgerflow.FunctionNotImportable", message, info.traceback)
    return failed_outcome(task_key, attempt, error, is_retryable=False, started_at=started_at, worker=worker)
