"""The Dask executor: task bodies run on a ``distributed`` cluster; their data stays there.

Independent invocations of one function are batched: one Dask task runs a chunk of
bodies in turn and returns their outcomes as a list. The chunk is pickled by us
(cloudpickle) and unpickled on the worker inside the wrapper, so a function the
workers cannot import gives clear FAILED outcomes instead of a Dask error. An
invocation that consumes an earlier future of this executor becomes its own Dask
task depending on the upstream Dask future and reads (upstream outcomes, position)
on the worker: data moves worker to worker. A Dask task whose results may go to an object
store (or are not persisted) has a small follower that strips its outcomes of those values
(see ``ResultSink``): the driver fetches only the light outcomes, while downstream tasks take
the full ones from Dask memory. A ``Stored`` input is read from its store on the worker.
A background thread collects completions with ``distributed.as_completed`` and sets the
futures.
"""

import itertools
import logging
import math
import pickle
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, Self

import cloudpickle
import distributed

from .body import (
    failed_outcome,
    input_failure,
)
from .context import CANCELLED_ERROR
from .dask_failures import dask_failure, not_serializable
from .dask_tasks import (
    Member,
    Package,
    Pending,
    Resources,
    futures_of,
    is_enough,
    is_without_result,
    run_of,
    stores_results,
    unlinked_value,
)
from .dask_worker import light_outcomes, run_members
from .invocation import ErrorInfo, Invocation, Outcome, Stored, Value

logger = logging.getLogger(__name__)

_CHUNK_CAP = 200  # bodies per Dask task, at most
_CHUNKS_PER_THREAD = 4  # enough chunks to keep every worker thread busy
_THREADS_REFRESH = 5.0  # seconds between reads of the cluster's thread count


class DaskExecutor:
    """Run invocations on a Dask cluster: a given client, an address, or an embedded one.

    A given ``client`` is never closed by us; with an ``address`` we connect a client;
    with neither we start a ``LocalCluster(processes=True, **cluster_kwargs)``. An
    invocation whose ``resources`` no worker offers for ``resource_timeout`` seconds
    ends FAILED (``ledgerflow.NoWorkerForResources``).
    """

    def __init__(
        self,
        address: str | None = None,
        client: distributed.Client | None = None,
        *,
        resource_timeout: float = 30.0,
        **cluster_kwargs: Any,
    ) -> None:
        self._cluster: distributed.LocalCluster | None = None
        if client is not None:
            self._client, self._owns_client = client, False
        elif address is not None:
            self._client, self._owns_client = distributed.Client(address), True
        else:
            self._cluster = distributed.LocalCluster(processes=True, **cluster_kwargs)
            self._client, self._owns_client = distributed.Client(self._cluster), True
        self._resource_timeout = resource_timeout
        self._lock = threading.Lock()
        self._pending: dict[str, Pending] = {}  # Dask key -> what waits for it
        self._links: dict[Future[Outcome], tuple[distributed.Future[Any], int]] = {}
        self._run_futures: dict[str, list[Future[Outcome]]] = {}
        self._submitted: dict[str, int] = {}  # run id -> invocations submitted (for priorities)
        self._threads, self._threads_read_at = 1, -math.inf
        self._token, self._counter = uuid.uuid4().hex[:12], itertools.count()  # Dask keys
        self._completions = distributed.as_completed(
            [], loop=self._client.loop, with_results=True, raise_errors=False
        )
        self._has_work = threading.Event()
        self._closed = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._collector = threading.Thread(
            target=self._collect, name="ledgerflow-dask-collector", daemon=True
        )
        self._collector.start()

    @property
    def client(self) -> distributed.Client:
        """The ``distributed.Client`` the invocations are submitted through."""
        return self._client

    def submit_many(self, invocations: Sequence[Invocation]) -> list[Future[Outcome]]:
        """Submit the invocations to Dask (batching independent ones); never blocks on them."""
        started_at = datetime.now(UTC)
        futures: list[Future[Outcome]] = []
        groups: dict[tuple[int, Resources], list[Member]] = {}
        packages: list[Package] = []
        for invocation in invocations:
            self._submitted[invocation.run_id] = self._submitted.get(invocation.run_id, 0) + 1
        for invocation in invocations:
            future: Future[Outcome] = Future()
            future.set_running_or_notify_cancel()  # ours to resolve: not cancellable
            futures.append(future)
            self._run_futures.setdefault(invocation.run_id, []).append(future)
            prepared = self._prepare(invocation, future, started_at)
            if prepared is None:
                continue
            member, upstreams = prepared
            resources = tuple(sorted(invocation.resources.items()))
            if upstreams or invocation.timeout is not None:
                packages += self._package([member], upstreams, resources, started_at)
            else:
                groups.setdefault((id(invocation.fn), resources), []).append(member)
        for (_, resources), members in groups.items():
            for chunk in self._chunks(members):
                packages += self._package(chunk, {}, resources, started_at)
        self._send(packages, started_at)
        return futures

    def cancel(self, run_id: str) -> None:
        """Cancel the run's Dask tasks; their outcomes end cancelled at once. A body already
        running on a worker runs on (Dask cannot stop it) and its result is discarded."""
        with self._lock:
            entries = [e for key, e in self._pending.items() if run_of(e) == run_id]
            for entry in entries:
                del self._pending[str(entry.light_future.key)]
        if not entries:
            return
        self._client.cancel(futures_of(entries))
        for entry in entries:
            self._fail(entry, CANCELLED_ERROR, "its run was cancelled")
        logger.info("run %s: cancelled %d Dask tasks", run_id, len(entries))

    def release(self, run_id: str) -> None:
        """Drop our references to the run's Dask futures (Dask may then free their data)."""
        for future in self._run_futures.pop(run_id, []):
            self._links.pop(future, None)
        self._submitted.pop(run_id, None)

    def close(self) -> None:
        """Fail what is still pending, stop our threads, close what we created."""
        if self._closed.is_set():
            return
        self._closed.set()
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
        for entry in pending:
            self._fail(entry, "ledgerflow.ExecutorClosed", "the Dask executor was closed first")
        if pending:
            self._client.cancel(futures_of(pending))
        self._has_work.set()
        self._collector.join(timeout=5)
        self._links.clear()
        self._run_futures.clear()
        if self._owns_client:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _prepare(
        self, invocation: Invocation, future: Future[Outcome], started_at: datetime
    ) -> tuple[Member, dict[str, distributed.Future[Any]]] | None:
        """The member to send and the Dask futures it reads; None if it failed already."""
        values: dict[str, Any] = {}
        links: dict[str, tuple[str, int]] = {}
        upstreams: dict[str, distributed.Future[Any]] = {}
        try:
            for key, source in invocation.inputs.items():
                if isinstance(source, Value):
                    values[key] = source.value
                    continue
                if isinstance(source, Stored):  # read on the worker, not via the driver
                    values[key] = source
                    continue
                link = self._links.get(source)
                if link is not None and not is_without_result(source):
                    upstreams[str(link[0].key)] = link[0]
                    links[key] = (str(link[0].key), link[1])
                else:  # not ours (or released): its value travels with the invocation
                    values[key] = unlinked_value(source.result(), invocation.sink)
        except Exception as exc:
            future.set_result(input_failure(invocation, exc, started_at=started_at, worker=None))
            return None
        fields = (
            invocation.run_id,
            invocation.task_key,
            invocation.attempt,
            invocation.fn,
            invocation.args,
            invocation.kwargs,
            invocation.timeout,
            invocation.retry_on,
            invocation.masked,
            invocation.sink,
        )
        payload = (fields, values, links)
        keeps = invocation.sink.keeps_values
        return Member(future, invocation.task_key, invocation.attempt, payload, keeps), upstreams

    def _chunks(self, members: list[Member]) -> list[list[Member]]:
        if len(members) == 1:
            return [members]
        per_chunk = math.ceil(len(members) / (_CHUNKS_PER_THREAD * self._total_threads()))
        size = min(_CHUNK_CAP, per_chunk)
        return [members[start : start + size] for start in range(0, len(members), size)]

    def _total_threads(self) -> int:
        now = time.monotonic()
        if now - self._threads_read_at > _THREADS_REFRESH:
            workers = self._client.scheduler_info(n_workers=-1).get("workers", {})
            self._threads = max(1, sum(info["nthreads"] for info in workers.values()))
            self._threads_read_at = now
        return self._threads

    def _package(
        self,
        members: list[Member],
        upstreams: dict[str, distributed.Future[Any]],
        resources: Resources,
        started_at: datetime,
    ) -> list[Package]:
        """The Dask task(s) for ``members``; a member that cannot be pickled fails alone."""
        try:
            blob = cloudpickle.dumps([member.payload for member in members])
        except Exception as exc:
            if len(members) > 1:  # find the culprits: package the members one by one
                return [
                    package for member in members
                    for package in self._package([member], upstreams, resources, started_at)
                ]  # fmt: skip
            first = members[0]
            first.future.set_result(not_serializable(first.task_key, first.attempt, exc, started_at))
            return []
        label = members[0].task_key if len(members) == 1 else f"chunk{len(members)}"
        key = f"lf-{label}-{self._token}-{next(self._counter)}"
        headers = pickle.dumps([(member.task_key, member.attempt) for member in members])
        return [Package(key, headers, blob, upstreams, resources, members)]

    def _send(self, packages: list[Package], started_at: datetime) -> None:
        """Submit the packages to Dask: one graph update per set of resources, not one per task.
        Fair across runs: a run's tasks go with the priority minus the number of invocations
        it has submitted, so a small run's tasks overtake those a huge map queued before."""
        by_resources: dict[tuple[Resources, int], list[Package]] = {}
        for package in packages:
            priority = -self._submitted.get(run_of(package), 0)
            by_resources.setdefault((package.resources, priority), []).append(package)
        for (resources, priority), group in by_resources.items():
            try:
                dask_futures = self._client.map(
                    run_members,
                    [package.headers for package in group],
                    [package.blob for package in group],
                    [package.upstreams for package in group],
                    key=[package.key for package in group],
                    resources=dict(resources) or None,
                    priority=priority,
                    pure=False,
                )
            except Exception as exc:  # e.g. the client lost its scheduler
                for member in (member for package in group for member in package.members):
                    member.future.set_result(dask_failure(member.task_key, member.attempt, exc, started_at))
                continue
            followed = [i for i, package in enumerate(group) if stores_results(package)]
            light_futures = self._client.map(
                light_outcomes,
                [dask_futures[i] for i in followed],
                key=[f"{group[i].key}-light" for i in followed],
                priority=priority,
                pure=False,
            )  # the driver fetches the outcomes without the values (they stay in Dask memory)
            lights = dict(zip(followed, light_futures, strict=True))
            for i, (package, dask_future) in enumerate(zip(group, dask_futures, strict=True)):
                self._track(package, dask_future, lights.get(i, dask_future), started_at)
            if resources:
                self._watch_resources()

    def _track(
        self,
        package: Package,
        dask_future: distributed.Future[Any],
        light_future: distributed.Future[Any],
        started_at: datetime,
    ) -> None:
        unmet_since = time.monotonic() if package.resources else None
        entry = Pending(
            dask_future, light_future, package.members, started_at, dict(package.resources), unmet_since
        )
        with self._lock:
            self._pending[str(light_future.key)] = entry
        for position, member in enumerate(package.members):
            self._links[member.future] = (dask_future, position)
        self._completions.add(light_future)
        self._has_work.set()

    def _collect(self) -> None:
        """Background thread: set each future as its Dask task completes, in batches."""
        while not self._closed.is_set():
            self._has_work.wait()
            self._has_work.clear()
            for batch in self._completions.batches():
                for dask_future, result in batch:
                    self._deliver(dask_future, result)

    def _deliver(self, dask_future: distributed.Future[Any], result: Any) -> None:
        with self._lock:
            entry = self._pending.pop(str(dask_future.key), None)
        if entry is None:  # already failed (no worker for its resources, or closed)
            return
        if dask_future.status == "finished" and len(result) == len(entry.members):
            for member, outcome in zip(entry.members, result, strict=True):
                member.future.set_result(outcome)
            return
        exc = result[1] if isinstance(result, tuple) else result  # (type, exc, tb) or exc
        if not isinstance(exc, BaseException):
            exc = RuntimeError(f"unexpected Dask result for {dask_future.key}: {result!r:.200}")
        logger.warning("Dask task %s failed: %r", dask_future.key, exc)
        for member in entry.members:
            member.future.set_result(dask_failure(member.task_key, member.attempt, exc, entry.started_at))

    def _fail(self, entry: Pending, error_type: str, reason: str) -> None:
        for member in entry.members:
            error = ErrorInfo(error_type, f"task {member.task_key!r}: {reason}", traceback="")
            outcome = failed_outcome(
                member.task_key,
                member.attempt,
                error,
                is_retryable=False,
                started_at=entry.started_at,
                worker=None,
            )
            member.future.set_result(outcome)

    def _watch_resources(self) -> None:
        with self._lock:
            if self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._check_resources, name="ledgerflow-dask-resources", daemon=True
                )
                self._watchdog.start()

    def _check_resources(self) -> None:
        """Background thread: fail tasks whose resources no worker offers for too long."""
        interval = min(1.0, self._resource_timeout / 4)
        while not self._closed.wait(interval):
            with self._lock:
                watched = [entry for entry in self._pending.values() if entry.resources]
                if not watched:
                    self._watchdog = None
                    return
            offers = self._offers()
            for entry in watched:
                self._check_entry(entry, offers)

    def _offers(self) -> dict[str, dict[str, float]]:
        try:
            workers = self._client.scheduler_info(n_workers=-1).get("workers", {})
        except Exception:  # scheduler unreachable: nobody offers anything
            return {}
        return {address: dict(info.get("resources") or {}) for address, info in workers.items()}

    def _check_entry(self, entry: Pending, offers: dict[str, dict[str, float]]) -> None:
        now = time.monotonic()
        if any(is_enough(offer, entry.resources) for offer in offers.values()):
            entry.unmet_since = None
            return
        if entry.unmet_since is None:
            entry.unmet_since = now
        if now - entry.unmet_since < self._resource_timeout:
            return
        with self._lock:
            if self._pending.pop(str(entry.light_future.key), None) is None:
                return
        self._client.cancel(futures_of([entry]))
        wanted = ", ".join(f"{name}={amount:g}" for name, amount in entry.resources.items())
        offered = "; ".join(f"{address}: {offer or 'none'}" for address, offer in offers.items())
        reason = (
            f"no Dask worker offers the resources it needs ({wanted}) after waiting "
            f"{self._resource_timeout:g} s; workers offer: {offered or 'no workers'}"
        )
        logger.warning("Dask task %s: %s", entry.dask_future.key, reason)
        self._fail(entry, "ledgerflow.NoWorkerForResources", reason)
