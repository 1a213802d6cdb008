"""What the Dask executor submits and tracks: the members of a Dask task (made from
invocations), the packages it sends, the pending tasks it waits for, and the small rules about
them."""

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import distributed

from ..results.refs import public_url
from ..results.sinks import ResultSink
from .body import input_failure, outcome_value
from .dask_worker import Payload
from .invocation import Invocation, Outcome, OutcomeStatus, Stored, Value


class Member(NamedTuple):
    """One invocation inside a Dask task; ``payload`` is what the worker unpickles."""

    future: Future[Outcome]
    task_key: str
    attempt: int
    payload: Payload
    stores_results: bool  # its value may stay on the worker (else it goes to the driver, whole)


Resources = tuple[tuple[str, float], ...]  # a task's resources, sorted: hashable
# Invocations that may share a Dask task: of one run, one function, with the same resources.
Group = tuple[str, Callable[..., Any], Resources]


class Package(NamedTuple):
    """One Dask task to submit: pickled members, the upstream Dask futures they read, and the
    group it batches (None: an invocation on its own) with whether it probes its duration."""

    key: str
    headers: bytes
    blob: bytes
    upstreams: dict[str, distributed.Future[Any]]
    resources: Resources
    members: list[Member]
    group: Group | None = None
    is_probe: bool = False


@dataclass(slots=True)
class Pending:
    """A submitted Dask task, the small task that strips its outcomes for the driver (or the
    task itself: when no result goes to an object store, or when it ``reports`` its light
    outcomes to the scheduler's guard), and the futures waiting for them."""

    dask_future: distributed.Future[Any]
    light_future: distributed.Future[Any]
    members: list[Member]
    started_at: datetime
    resources: dict[str, float]
    unmet_since: float | None  # monotonic time since no worker offers the resources
    upstreams: tuple[str, ...] = ()  # the Dask keys its members read
    group: Group | None = None
    is_probe: bool = False
    reports: bool = False  # its outcomes come from the scheduler's guard (light), not from Dask


def run_of(task: Member | Package | Pending) -> str:
    """The run of an invocation, or of a Dask task's (one Dask task holds invocations of one run)."""
    member = task if isinstance(task, Member) else task.members[0]
    return str(member.payload[0][0])


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


Links = dict[Future[Outcome], tuple[distributed.Future[Any], int]]  # a future -> (Dask task, position)


def member_of(
    invocation: Invocation, future: Future[Outcome], started_at: datetime, links: Links
) -> tuple[Member, dict[str, distributed.Future[Any]]] | None:
    """The member to send for ``invocation`` and the Dask futures it reads (by ``links``: an
    upstream of this executor's, still held); None if it failed already (``future`` is set)."""
    values: dict[str, Any] = {}
    reads: dict[str, tuple[str, int]] = {}
    upstreams: dict[str, distributed.Future[Any]] = {}
    try:
        for key, source in invocation.inputs.items():
            if isinstance(source, Value):
                values[key] = source.value
                continue
            if isinstance(source, Stored):  # read on the worker, not via the driver
                values[key] = source
                continue
            link = links.get(source)
            if link is not None and not is_without_result(source):
                upstreams[str(link[0].key)] = link[0]
                reads[key] = (str(link[0].key), link[1])
            else:  # not ours (or released, or lost): its value travels with the invocation
                values[key] = unlinked_value(source.result(), invocation.sink)
    except Exception as exc:
        future.set_result(input_failure(invocation, exc, started_at=started_at, worker=None))
        return None
    fields = (
        invocation.run_id, invocation.task_key, invocation.attempt, invocation.fn, invocation.args,
        invocation.kwargs, invocation.timeout, invocation.retry_on, invocation.masked, invocation.sink,
        invocation.trace,
    )  # fmt: skip
    payload = (fields, values, reads)
    keeps = invocation.sink.keeps_values
    return Member(future, invocation.task_key, invocation.attempt, payload, keeps), upstreams
