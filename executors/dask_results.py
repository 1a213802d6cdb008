"""What the driver receives of completed Dask tasks that report their outcomes: the light
outcomes they reported to the scheduler's guard, or the exceptions they ended with."""

import pickle
from concurrent.futures import CancelledError
from typing import Any, cast

import distributed

from .dask_guard import OUTCOMES


class OutcomeLost(ConnectionError):
    """A Dask task ended but the outcomes it reported did not reach the driver (the scheduler
    forgot the task, or the task could not report): an infrastructure failure, retried."""


def taken_outcomes(client: distributed.Client, keys: list[str]) -> dict[str, Any]:
    """The outcomes the finished Dask tasks of ``keys`` reported, taken from the scheduler in
    one call; for a task without them (or all, if the scheduler cannot be asked), the
    exception that stands for them."""
    if not keys:
        return {}
    try:
        ask = getattr(client.scheduler, OUTCOMES)
        answers: dict[str, bytes | None] = client.sync(ask, keys=keys)  # type: ignore[no-untyped-call]
        return {key: _loaded(key, answers.get(key)) for key in keys}
    except Exception as exc:  # the scheduler unreachable: as a lost connection
        return dict.fromkeys(keys, exc)


def _loaded(key: str, reported: bytes | None) -> Any:
    if reported is None:
        return OutcomeLost(f"the scheduler holds no outcomes of Dask task {key}")
    return pickle.loads(reported)


def ended_with(future: distributed.Future[Any]) -> BaseException:
    """The exception a Dask task that did not finish ended with: its error, its cancellation,
    or, lost with its worker, ``OutcomeLost`` (its result is never fetched here)."""
    if future.status == "error":
        return cast(BaseException, future.exception())  # type: ignore[no-untyped-call]
    if future.status == "cancelled":
        return CancelledError(f"Dask task {future.key} was cancelled")
    return OutcomeLost(f"Dask task {future.key} ended {future.status}")
