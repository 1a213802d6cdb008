"""The executor contract: run invocations somewhere, give back futures of outcomes."""

from collections.abc import Sequence
from concurrent.futures import Future
from typing import Protocol, Self

from .invocation import Invocation, Outcome


class Executor(Protocol):
    """Where task bodies run. Executors never touch storage or state, and never retry."""

    def submit_many(self, invocations: Sequence[Invocation]) -> list[Future[Outcome]]:
        """Start the invocations; each future resolves to an ``Outcome`` and never raises.

        Upstream inputs that are futures returned earlier by this executor are resolved
        where the executor keeps their data (for Dask, on the workers).
        """
        ...

    def cancel(self, run_id: str) -> None:
        """Stop the run's work: what has not started ends at once with a cancelled outcome
        (error type ``CANCELLED_ERROR``); running bodies see it at their next checkpoint
        where the executor can tell them (threads), else run on and are not waited for."""
        ...

    def release(self, run_id: str) -> None:
        """Forget the data of a run's tasks (called when the run stops being driven)."""
        ...

    def close(self) -> None:
        """Shut down what this executor started (not a cluster it was given)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...
