"""What the Dask executor submits and tracks: the members of a Dask task, the packages it
sends, the pending tasks it waits for, and the small rules about them."""

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import distributed

from ..results.refs import public_url
from ..results.sinks import ResultSink
from .body import outcome_value
from .dask_worker import Payload
from .invocation import Outcome, OutcomeStatus, Stored


class Member(NamedTuple):
    """One invocation inside a Dask task; ``payload`` is what the worker unpickles."""

    future: Future[Outcome]
    task_key: str
    attempt: int
    payload: Payload
    stores_results: bool  # its value may stay on the worker (else it goes to the driver, whole)


Resources = tuple[tuple[str, float], ...]  # a task's resources, sorted: hashable


class Package(NamedTuple):
    """One Dask task to submit: pickled members, the upstream Dask futures they read."""

    key: str
    headers: bytes
    blob: bytes
    upstreams: dict[str, distributed.Future[Any]]
    resources: Resources
    members: list[Member]


@dataclass(slots=True)
class Pending:
    """A submitted Dask task, the small task that strips its outcomes for the driver (or the
    task itself, when no result goes to an object store), and the futures waiting for them."""

    dask_future: distributed.Future[Any]
    light_future: distributed.Future[Any]
    members: list[Member]
    started_at: datetime
    resources: dict[str, float]
    unmet_since: float | None  # monotonic time since no worker offers the resources


def run_of(task: Package | Pending) -> str:
    """The run of a Dask task's invocations (one submission holds invocations of one run)."""
    return str(task.members[0].payload[0][0])


def is_enough(offer: Mapping[str, float], wanted: Mapping[str, float]) -> bool:
    return all(offer.get(name, 0) >= amount for name, amount in wanted.items())


def stores_results(package: Package) -> bool:
    return any(member.stores_results for member in package.members)


def futures_of(entries: Sequence[Pending]) -> list[distributed.Future[Any]]:
    """The Dask futures of the entries: their tasks and, where there is one, its follower."""
    futures = [entry.dask_future for entry in entries]
    return futures + [entry.light_future for entry in entries if entry.light_future is not entry.dask_future]


def is_without_result(future: Future[Outcome]) -> bool:
    """True if an upstream future ended without a result (FAILED or SKIPPED)."""
    return future.done() and future.result().status is not OutcomeStatus.SUCCEEDED


def unlinked_value(outcome: Outcome, sink: ResultSink) -> Any:
    """The value of an upstream outcome not in this cluster's memory: decoded from its bytes,
    or read from its store on the worker (a light outcome holds only the reference)."""
    reference = outcome.reference
    if reference is None or outcome.value is not None or outcome.result is not None:
        return outcome_value(outcome)
    if not reference.is_persisted:
        raise LookupError(
            f"the result of task {outcome.task_key!r} was not persisted and this executor no longer holds it"
        )
    is_the_sinks = sink.url is not None and public_url(sink.url) == reference.store
    return Stored(reference, sink.options if is_the_sinks else {})
