"""The default executor: task bodies run in a thread pool of this process."""

import os
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Self

from ..results.refs import ResultRef
from .arguments import holds_only_scalars, resolve_arguments
from .body import failed_outcome, input_failure, outcome_value, run_invocation, stored_value
from .context import CANCELLED_ERROR, forget_cancelled, is_cancelled, mark_cancelled
from .invocation import ErrorInfo, Invocation, Outcome, Stored, Value


class ThreadExecutor:
    """Run invocations on a ``concurrent.futures.ThreadPoolExecutor``.

    Upstream inputs that are futures of this executor are decoded once per run and
    kept (in this process) until ``release(run_id)``. To keep the cost per task low, the
    invocations wait in one queue per run, drained by at most ``max_workers`` pool jobs
    (not one job a task) that take from the runs in turn: a run with a huge map does not
    hold back the tasks of a small run submitted after it.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        # The default of ThreadPoolExecutor, spelled out because we size the drains with it.
        self._max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="ledgerflow")
        self._is_closing = False
        # Per run: upstream future -> its decoded value, shared by every downstream task.
        self._decoded: dict[str, dict[Future[Outcome] | ResultRef, Any]] = {}
        self._lock = threading.Lock()
        self._waiting: dict[str, deque[tuple[Future[Outcome], Invocation]]] = {}  # run id -> its queue
        self._draining = 0  # pool jobs taking from the queues

    def submit_many(self, invocations: Sequence[Invocation]) -> list[Future[Outcome]]:
        """Queue the invocations for the pool; each future resolves to an ``Outcome``."""
        futures = []
        with self._lock:
            for invocation in invocations:
                future: Future[Outcome] = Future()
                futures.append(future)
                self._waiting.setdefault(invocation.run_id, deque()).append((future, invocation))
            starting = min(len(futures), self._max_workers - self._draining)
            self._draining += starting
        for _ in range(starting):
            self._pool.submit(self._drain)
        return futures

    def cancel(self, run_id: str) -> None:
        """Queued invocations of the run end cancelled without starting; running bodies
        see ``lf.context().cancelled`` (``lf.checkpoint()`` raises) until ``release``."""
        mark_cancelled(run_id)

    def release(self, run_id: str) -> None:
        """Drop the decoded upstream values kept for ``run_id`` and its cancellation."""
        self._decoded.pop(run_id, None)
        forget_cancelled(run_id)

    def close(self) -> None:
        """Cancel the futures of queued invocations, wait for running ones, stop the pool."""
        self._is_closing = True
        self._pool.shutdown(wait=True)
        self._decoded.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _drain(self) -> None:
        while (taken := self._next()) is not None:
            future, invocation = taken
            if self._is_closing:
                future.cancel()
            elif future.set_running_or_notify_cancel():
                future.set_result(self._run(invocation))

    def _next(self) -> tuple[Future[Outcome], Invocation] | None:
        """The next invocation of the run whose turn it is (it goes to the back of the
        line); None, and one drain fewer, when nothing waits."""
        with self._lock:
            for run_id, queue in self._waiting.items():
                taken = queue.popleft()
                del self._waiting[run_id]
                if queue:
                    self._waiting[run_id] = queue
                return taken
            self._draining -= 1
            return None

    def _run(self, invocation: Invocation) -> Outcome:
        if is_cancelled(invocation.run_id):
            return cancelled_before_start(invocation)
        args, kwargs = invocation.args, invocation.kwargs
        try:
            if invocation.inputs or not holds_only_scalars(args, kwargs):
                values = self._input_values(invocation) if invocation.inputs else {}
                args, kwargs = resolve_arguments(args, kwargs, values)
        except Exception as exc:
            return input_failure(invocation, exc, started_at=datetime.now(UTC), worker=None)
        return run_invocation(invocation, args, kwargs)

    def _input_values(self, invocation: Invocation) -> dict[str, Any]:
        decoded = self._decoded.setdefault(invocation.run_id, {})
        values: dict[str, Any] = {}
        for key, source in invocation.inputs.items():
            if isinstance(source, Value):
                values[key] = source.value
            elif isinstance(source, Stored):
                if source.reference not in decoded:
                    decoded[source.reference] = stored_value(source)
                values[key] = decoded[source.reference]
            elif source in decoded:
                values[key] = decoded[source]
            else:
                values[key] = decoded[source] = outcome_value(source.result())
        return values


def cancelled_before_start(invocation: Invocation) -> Outcome:
    """The outcome of an invocation whose run was cancelled before its body started."""
    message = f"task {invocation.task_key!r}: its run was cancelled before it started"
    return failed_outcome(
        invocation.task_key, invocation.attempt, ErrorInfo(CANCELLED_ERROR, message, ""),
        is_retryable=False, started_at=datetime.now(UTC), worker=None,
    )  # fmt: skip
