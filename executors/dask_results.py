"""What the driver receives of completed Dask tasks: the light outcomes they reported to the
scheduler's guard, or their results, or the exceptions they ended with."""

import pickle
from typing import Any

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


def fetched_results(client: distributed.Client, futures: list[distributed.Future[Any]]) -> list[Any]:
    """The results of completed Dask futures, fetched together; the exception a future ended
    with (erred, cancelled, lost) stands for its result."""
    finished = [future for future in futures if future.status == "finished"]
    try:
        results = client.gather(finished) if finished else []  # type: ignore[no-untyped-call]
        gathered = dict(zip(finished, results, strict=True))
    except Exception:  # one of them could not be fetched: each on its own
        gathered = {}
    return [gathered[future] if future in gathered else _result(future) for future in futures]


def _result(future: distributed.Future[Any]) -> Any:
    try:
        return future.result()
    except Exception as exc:  # erred, cancelled (CancelledError) or lost: the exception stands for it
        return exc
