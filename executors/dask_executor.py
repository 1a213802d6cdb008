"""The Dask executor: task bodies run on a ``distributed`` cluster; their data stays there.

Independent invocations of one function are batched when their bodies are tiny (see
``dask_chunks``): one Dask task runs a chunk of bodies in turn and returns their outcomes as a
list. Before a Dask task runs its first body, its worker tells the scheduler's ``AttemptGuard``
(see ``dask_guard``), so that Dask never runs a started body again under the same attempt: a
lost worker ends the attempt (``KilledWorker``), and the engine records it. The chunk is pickled by us
(cloudpickle) and unpickled on the worker inside the wrapper, so a function the
workers cannot import gives clear FAILED outcomes instead of a Dask error. An
invocation that consumes an earlier future of this executor becomes its own Dask
task depending on the upstream Dask future and reads (upstream outcomes, position)
on the worker: data moves worker to worker. A Dask task whose results may go to an object
store (or are not persisted, see ``ResultSink``) reports its outcomes without those values to
the scheduler's guard as it ends, and the driver takes them from there (see ``dask_guard``);
on a cluster whose guard cannot, a small follower task strips them for the driver. Either way
the driver receives only the light outcomes, while downstream tasks take the full ones from
Dask memory. A ``Stored`` input is read from its store on the worker. Background threads
collect completions with ``distributed.as_completed`` (one fetching results, one taking
reported outcomes) and set the futures.
"""

import itertools
import logging
import math
import pickle
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, Self

import cloudpickle
import distributed

from . import dask_guard
from .body import failed_outcome
from .context import CANCELLED_ERROR
from .dask_chunks import ChunkPlan
from .dask_failures import dask_failure, not_serializable
from .dask_resources import ResourceWatch
from .dask_results import ended_with, taken_outcomes
from .dask_tasks import (
    Group,
    Links,
    Member,
    Package,
    Pending,
    Resources,
    futures_of,
    member_of,
    run_of,
    stores_results,
)
from .dask_worker import UPSTREAM_LOST, light_outcomes, run_members
from .invocation import ErrorInfo, Invocation, Outcome

logger = logging.getLogger(__name__)

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
        self._guarded, self._reports = dask_guard.install(self._client)
        self._lock = threading.Lock()
        self._pending: dict[str, Pending] = {}  # Dask key -> what waits for it
        self._links: Links = {}
        self._run_futures: dict[str, list[Future[Outcome]]] = {}
        self._submitted: dict[str, int] = {}  # run id -> invocations submitted (for priorities)
        self._lost: set[tuple[str, str]] = set()  # (run id, task key) whose last attempt was lost
        self._threads, self._threads_read_at = 1, -math.inf
        self._token, self._counter = uuid.uuid4().hex[:12], itertools.count()  # Dask keys
        self._completions = distributed.as_completed(
            [], loop=self._client.loop, with_results=True, raise_errors=False
        )
        self._reported = distributed.as_completed([], loop=self._client.loop)  # the results stay there
        self._plan = ChunkPlan(self._total_threads)
        self._has_work, self._has_reports = threading.Event(), threading.Event()
        self._closed = threading.Event()
        self._resources = ResourceWatch(
            self._client, resource_timeout, self._needing_resources, self._give_up, self._closed
        )
        self._collectors = [
            threading.Thread(target=self._collect, args=args, name=name, daemon=True)
            for name, args in (
                ("ledgerflow-dask-collector", (self._completions, self._has_work, list)),
                ("ledgerflow-dask-reports", (self._reported, self._has_reports, self._taken)),
            )
        ]
        for collector in self._collectors:
            collector.start()

    @property
    def client(self) -> distributed.Client:
        """The ``distributed.Client`` the invocations are submitted through."""
        return self._client

    def submit_many(self, invocations: Sequence[Invocation]) -> list[Future[Outcome]]:
        """Submit the invocations to Dask (batching independent ones); never blocks on them."""
        started_at = datetime.now(UTC)
        futures: list[Future[Outcome]] = []
        groups: dict[Group, list[Member]] = {}
        packages: list[Package] = []
        for invocation in invocations:
            self._submitted[invocation.run_id] = self._submitted.get(invocation.run_id, 0) + 1
        for invocation in invocations:
            future: Future[Outcome] = Future()
            future.set_running_or_notify_cancel()  # ours to resolve: not cancellable
            futures.append(future)
            self._run_futures.setdefault(invocation.run_id, []).append(future)
            prepared = member_of(invocation, future, started_at, self._links)
            if prepared is None:
                continue
            member, upstreams = prepared
            resources = tuple(sorted(invocation.resources.items()))
            # An attempt after a lost worker goes alone: a body that killed it takes no other down.
            after_loss = (invocation.run_id, invocation.task_key) in self._lost
            if upstreams or invocation.timeout is not None or after_loss:
                self._lost.discard((invocation.run_id, invocation.task_key))
                packages += self._package([member], upstreams, resources, started_at)
            else:
                groups.setdefault((invocation.run_id, invocation.fn, resources), []).append(member)
        for group, members in groups.items():
            packages += self._batch(group, members, started_at)
        self._send(packages, started_at)
        return futures

    def cancel(self, run_id: str) -> None:
        """Cancel the run's Dask tasks; their outcomes end cancelled at once. A body already
        running on a worker runs on (Dask cannot stop it) and its result is discarded."""
        held = self._plan.take(run_id)
        self._fail(held, datetime.now(UTC), CANCELLED_ERROR, "its run was cancelled")
        with self._lock:
            entries = [e for key, e in self._pending.items() if run_of(e) == run_id]
            for entry in entries:
                del self._pending[str(entry.light_future.key)]
        if not entries:
            return
        self._client.cancel(futures_of(entries))
        for entry in entries:
            self._fail(entry.members, entry.started_at, CANCELLED_ERROR, "its run was cancelled", entry)
        logger.info("run %s: cancelled %d Dask tasks", run_id, len(entries))

    def release(self, run_id: str) -> None:
        """Drop our references to the run's Dask futures (Dask may then free their data)."""
        for future in self._run_futures.pop(run_id, []):
            self._links.pop(future, None)
        self._submitted.pop(run_id, None)
        self._lost = {lost for lost in self._lost if lost[0] != run_id}

    def close(self) -> None:
        """Fail what is still pending, stop our threads, close what we created."""
        if self._closed.is_set():
            return
        self._closed.set()
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
        closed, reason = "ledgerflow.ExecutorClosed", "the Dask executor was closed first"
        self._fail(self._plan.take(), datetime.now(UTC), closed, reason)
        for entry in pending:
            self._fail(entry.members, entry.started_at, closed, reason)
        if pending:
            self._client.cancel(futures_of(pending))
        for collector, wake in zip(self._collectors, (self._has_work, self._has_reports), strict=True):
            wake.set()
            collector.join(timeout=5)
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

    def _batch(self, group: Group, members: list[Member], started_at: datetime) -> list[Package]:
        """The Dask tasks to send now for a group's members (see ``ChunkPlan``)."""
        packages: list[Package] = []
        for chunk, is_probe in self._plan.plan(group, members):
            made = self._package(chunk, {}, group[2], started_at, group, is_probe)
            if is_probe and not made:  # it failed before reaching Dask: those waiting for it go
                released = self._plan.ended(group, (), is_probe=True)
                for batch in released:
                    packages += self._package(batch, {}, group[2], started_at, group)
            packages += made
        return packages

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
        group: Group | None = None,
        is_probe: bool = False,
    ) -> list[Package]:
        """The Dask task(s) for ``members``; a member that cannot be pickled fails alone."""
        try:
            blob = cloudpickle.dumps([member.payload for member in members])
        except Exception as exc:
            if len(members) > 1:  # find the culprits: package the members one by one
                return [
                    package for member in members
                    for package in self._package([member], upstreams, resources, started_at, group)
                ]  # fmt: skip
            first = members[0]
            first.future.set_result(not_serializable(first.task_key, first.attempt, exc, started_at))
            return []
        label = members[0].task_key if len(members) == 1 else f"chunk{len(members)}"
        key = f"lf-{label}-{self._token}-{next(self._counter)}"
        headers = pickle.dumps([(member.task_key, member.attempt) for member in members])
        return [Package(key, headers, blob, upstreams, resources, members, group, is_probe)]

    def _send(self, packages: list[Package], started_at: datetime) -> None:
        """Submit the packages to Dask: one graph update per set of resources, not one per task.
        Fair across runs: a run's tasks go with the priority minus the number of invocations
        it has submitted, so a small run's tasks overtake those a huge map queued before."""
        by_resources: dict[tuple[Resources, int], list[Package]] = {}
        for package in packages:
            priority = -self._submitted.get(run_of(package), 0)
            by_resources.setdefault((package.resources, priority), []).append(package)
        for (resources, priority), group in by_resources.items():
            reporting = [self._reports and stores_results(package) for package in group]
            try:
                dask_futures = self._client.map(
                    run_members,
                    [package.headers for package in group],
                    [package.blob for package in group],
                    [package.upstreams for package in group],
                    reporting,
                    key=[package.key for package in group],
                    resources=dict(resources) or None,
                    priority=priority,
                    pure=False,
                    guarded=self._guarded,
                )
            except Exception as exc:  # e.g. the client lost its scheduler
                for package in group:
                    outcomes = [dask_failure(m.task_key, m.attempt, exc, started_at) for m in package.members]
                    self._settle(package, package.members, outcomes, started_at)
                continue
            followed = [i for i, package in enumerate(group) if stores_results(package) and not reporting[i]]
            lights = self._followers(group, dask_futures, followed, priority) if followed else {}
            for i, (package, dask_future) in enumerate(zip(group, dask_futures, strict=True)):
                self._track(package, dask_future, lights.get(i, dask_future), started_at, reporting[i])
            if resources:
                self._resources.start()

    def _followers(
        self,
        group: list[Package],
        dask_futures: list[distributed.Future[Any]],
        followed: list[int],
        priority: int,
    ) -> dict[int, distributed.Future[Any]]:
        """The follower tasks of the ``followed`` packages of ``group``, by position: the driver
        fetches their outcomes without the values (they stay in Dask memory)."""
        light_futures = self._client.map(
            light_outcomes,
            [dask_futures[i] for i in followed],
            key=[f"{group[i].key}-light" for i in followed],
            priority=priority,
            pure=False,
        )
        return dict(zip(followed, light_futures, strict=True))

    def _track(
        self,
        package: Package,
        dask_future: distributed.Future[Any],
        light_future: distributed.Future[Any],
        started_at: datetime,
        reports: bool,
    ) -> None:
        unmet_since = time.monotonic() if package.resources else None
        entry = Pending(
            dask_future, light_future, package.members, started_at, dict(package.resources), unmet_since,
            tuple(package.upstreams), package.group, package.is_probe, reports,
        )  # fmt: skip
        with self._lock:
            self._pending[str(light_future.key)] = entry
        for position, member in enumerate(package.members):
            self._links[member.future] = (dask_future, position)
        if reports:
            self._reported.add(light_future)
            self._has_reports.set()
        else:
            self._completions.add(light_future)
            self._has_work.set()

    def _collect(
        self,
        completions: distributed.as_completed,
        has_work: threading.Event,
        received: Callable[[list[Any]], list[tuple[distributed.Future[Any], Any]]],
    ) -> None:
        """Background thread: set each future as its Dask task completes, in batches (``received``
        pairs each completed Dask future with what the driver receives of it)."""
        while not self._closed.is_set():
            has_work.wait()
            has_work.clear()
            for batch in completions.batches():
                for dask_future, result in received(batch):
                    self._deliver(dask_future, result)

    def _taken(self, batch: list[distributed.Future[Any]]) -> list[tuple[distributed.Future[Any], Any]]:
        """Completed Dask tasks that report, each with the outcomes it reported (taken from the
        scheduler's guard, for all the batch at once) or the exception it ended with."""
        taken = taken_outcomes(self._client, [str(f.key) for f in batch if f.status == "finished"])
        return [(f, taken[str(f.key)] if str(f.key) in taken else ended_with(f)) for f in batch]

    def _deliver(self, dask_future: distributed.Future[Any], result: Any) -> None:
        with self._lock:
            entry = self._pending.pop(str(dask_future.key), None)
        if entry is None:  # already failed (no worker for its resources, or closed)
            return
        is_list = dask_future.status == "finished" and isinstance(result, list)  # else an exception
        if is_list and len(result) == len(entry.members):
            outcomes: list[Outcome] = result
        else:
            exc = result[1] if isinstance(result, tuple) else result  # (type, exc, tb) or exc
            if not isinstance(exc, BaseException):
                exc = RuntimeError(f"unexpected Dask result for {dask_future.key}: {result!r:.200}")
            logger.warning("Dask task %s failed: %r", dask_future.key, exc)
            batch = len(entry.members)
            outcomes = [
                dask_failure(m.task_key, m.attempt, exc, entry.started_at, batch) for m in entry.members
            ]
        self._settle(entry, entry.members, outcomes, entry.started_at)

    def _settle(
        self, task: Package | Pending, members: list[Member], outcomes: list[Outcome], started_at: datetime
    ) -> None:
        """Resolve the members' futures; then learn from the outcomes and send what waited for them."""
        if isinstance(task, Pending) and any(o.error and o.error.type == UPSTREAM_LOST for o in outcomes):
            self._unlink(task.upstreams)  # before a retry can be submitted
        for member, outcome in zip(members, outcomes, strict=True):
            if outcome.infrastructure:
                self._lost.add((run_of(member), member.task_key))
            member.future.set_result(outcome)
        if task.group is None:
            return
        group = task.group
        released = self._plan.ended(group, outcomes, is_probe=task.is_probe)
        packages = [p for batch in released for p in self._package(batch, {}, group[2], started_at, group)]
        if packages:
            self._send(packages, started_at)

    def _unlink(self, dask_keys: tuple[str, ...]) -> None:
        """Forget Dask results lost with their worker: a retry that reads them takes the value
        from the driver (or its store) instead."""
        lost = set(dask_keys)
        for future, (dask_future, _) in list(self._links.items()):
            if str(dask_future.key) in lost:
                self._links.pop(future, None)

    def _fail(
        self,
        members: list[Member],
        started_at: datetime,
        error_type: str,
        reason: str,
        entry: Pending | None = None,
    ) -> None:
        """End the members (of ``entry``, a Dask task given up: settled, so what waited for it goes)."""
        outcomes = [
            failed_outcome(
                member.task_key,
                member.attempt,
                ErrorInfo(error_type, f"task {member.task_key!r}: {reason}", traceback=""),
                is_retryable=False,
                started_at=started_at,
                worker=None,
            )
            for member in members
        ]
        if entry is not None:
            self._settle(entry, members, outcomes, started_at)
            return
        for member, outcome in zip(members, outcomes, strict=True):
            member.future.set_result(outcome)

    def _needing_resources(self) -> list[Pending]:
        with self._lock:
            return [entry for entry in self._pending.values() if entry.resources]

    def _give_up(self, entry: Pending, reason: str) -> None:
        """End a pending Dask task whose resources nobody offers (see ``ResourceWatch``)."""
        with self._lock:
            if self._pending.pop(str(entry.light_future.key), None) is None:
                return
        self._client.cancel(futures_of([entry]))
        self._fail(entry.members, entry.started_at, "ledgerflow.NoWorkerForResources", reason, entry)
