"""The default executor: task bodies run in a thread pool of this process."""

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Self

from .arguments import resolve_arguments
from .body import input_failure, outcome_value, run_invocation
from .invocation import Invocation, Outcome, Value


class ThreadExecutor:
    """Run invocations on a ``concurrent.futures.ThreadPoolExecutor``.

    Upstream inputs that are futures of this executor are decoded once per run and
    kept (in this process) until ``release(run_id)``.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ledgerflow")
        # Per run: upstream future -> its decoded value, shared by every downstream task.
        self._decoded: dict[str, dict[Future[Outcome], Any]] = {}

    def submit_many(self, invocations: Sequence[Invocation]) -> list[Future[Outcome]]:
        """Start the invocations on the pool; each future resolves to an ``Outcome``."""
        submit, run = self._pool.submit, self._run
        return [submit(run, invocation) for invocation in invocations]

    def release(self, run_id: str) -> None:
        """Drop the decoded upstream values kept for ``run_id``."""
        self._decoded.pop(run_id, None)

    def close(self) -> None:
        """Cancel queued invocations, wait for running ones, stop the pool."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._decoded.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, invocation: Invocation) -> Outcome:
        try:
            values = self._input_values(invocation) if invocation.inputs else {}
            args, kwargs = resolve_arguments(invocation.args, invocation.kwargs, values)
        except Exception as exc:
            return input_failure(invocation, exc, started_at=datetime.now(UTC), worker=None)
        return run_invocation(invocation, args, kwargs)

    def _input_values(self, invocation: Invocation) -> dict[str, Any]:
        decoded = self._decoded.setdefault(invocation.run_id, {})
        values: dict[str, Any] = {}
        for key, source in invocation.inputs.items():
            if isinstance(source, Value):
                values[key] = source.value
            elif source in decoded:
                values[key] = decoded[source]
            else:
                values[key] = decoded[source] = outcome_value(source.result())
        return values
