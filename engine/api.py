"""``Engine``: run flows, and read back what the log says about them."""

import atexit
import os
import socket
import threading
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from ..executors import Executor, make_executor
from ..storage import Storage, open_storage
from ..storage.protocols import RunSummary
from .audit_api import AuditAPI
from .cancel import Canceller, CancelReport
from .core.bulk import collector_paused
from .core.events import Event, NewEvent
from .core.fold import Folder, RunView, fold
from .core.restart import has_nothing_to_restart, tasks_to_reopen
from .core.run_terms import RunTerms
from .core.states import RunState
from .creation import as_logged, create_run, new_run
from .errors import GraphChanged, RunNotFinished, UnknownTask
from .flow import Flow, TracedFlow, provide_default_runner
from .flow_ref import FlowNotFound, load_flow
from .home import ledgerflow_home, new_run_id
from .hooks import settle_ended_run
from .lease import LeaseGroup, RunLease
from .queueing import submitted_terms
from .recorder import EventListener
from .result_storage import ResultPlacement
from .result_values import run_result_loader
from .run import Run
from .runtime import RunPorts, RunToDrive, drive_run, paced
from .schedule_runner import DEFAULT_MAX_BACKFILL, BackfillReport, backfill
from .secret_restore import restore
from .settings_api import SettingsAPI


class Engine(AuditAPI, SettingsAPI):
    """Runs flows against an event log (SQLite by default) on an executor (threads by default).

    ``database_url`` falls back to ``LEDGERFLOW_DATABASE_URL``, then to a SQLite file in
    ``LEDGERFLOW_HOME``; ``executor`` may be an executor, ``"threads"`` or ``"dask"``.
    With ``create_schema=False`` a database without ledgerflow's schema raises
    ``SchemaMissing`` instead of getting one (to read what was recorded).

    ``result_storage`` is where results are stored: None (``$LEDGERFLOW_RESULT_STORAGE``, else
    the database) or an fsspec URL (``file:///shared/results``, ``s3://bucket/prefix``...),
    written by the executors themselves; ``result_storage_options`` go to fsspec (endpoint,
    credentials...) for the stores of that URL's protocol, and are never recorded. JSON
    results up to ``inline_limit`` bytes (``$LEDGERFLOW_INLINE_LIMIT``, default 1024; 0:
    none) travel inside their events. ``result_compression="zstd"``
    (``$LEDGERFLOW_RESULT_COMPRESSION``; needs ``ledgerflow[zstd]``) compresses stored results
    of ``compression_threshold`` bytes or more (``$LEDGERFLOW_COMPRESSION_THRESHOLD``,
    default 65536) that compress.
    """

    def __init__(
        self,
        database_url: str | None = None,
        executor: Executor | str | None = None,
        *,
        home: str | Path | None = None,
        lease_ttl: float = 30.0,
        create_schema: bool = True,
        result_storage: str | None = None,
        result_storage_options: Mapping[str, Any] | None = None,
        inline_limit: int | None = None,
        result_compression: str | None = None,
        compression_threshold: int | None = None,
    ) -> None:
        self.results_placement = ResultPlacement.configured(
            result_storage, result_storage_options, inline_limit, result_compression, compression_threshold
        )
        self.home = Path(home) if home is not None else ledgerflow_home()
        url = database_url or os.environ.get("LEDGERFLOW_DATABASE_URL") or None
        self.storage: Storage = open_storage(url, self.home, create_schema=create_schema)
        self._executor_spec = executor
        self._executor: Executor | None = executor if not isinstance(executor, str | None) else None
        self._owns_executor = self._executor is None
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_ttl = lease_ttl
        self._leases: LeaseGroup | None = None  # renews the leases of the runs it drives
        self._leases_lock = threading.Lock()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the executor this engine started and the database connections."""
        if self._leases is not None:
            self._leases.close()
        if self._executor is not None and self._owns_executor:
            self._executor.close()
        self._executor = None
        self.storage.close()

    @property
    def executor(self) -> Executor:
        """The executor, started on first use."""
        if self._executor is None:
            spec = self._executor_spec if isinstance(self._executor_spec, str) else None
            self._executor = make_executor(spec)
        return self._executor

    def run(self, flow: Flow[..., Any], /, **parameters: Any) -> Run:
        """Run ``flow`` with ``parameters`` until it ends; returns the run."""
        return self.run_flow(flow, parameters)

    def run_flow(
        self,
        flow: Flow[..., Any],
        parameters: Mapping[str, Any],
        on_events: EventListener | None = None,
    ) -> Run:
        """Like ``run``, with parameters as a mapping and a listener for appended events."""
        with paced():  # tracing and driving make many small objects
            traced, created = new_run(flow, parameters, RunState.PENDING, flow.run_terms, self.home)
            events = [as_logged(new_run_id(created.ts or datetime.now(UTC)), created)]
            return self._drive(
                traced, events, on_events=on_events, reason="start", is_claimed=True, created=created
            )

    def submit(self, flow: Flow[..., Any], /, **parameters: Any) -> str:
        """Record a run of ``flow`` as SCHEDULED and return its id at once.

        A ``Worker`` (``ledgerflow worker``) claims and drives it, loading the flow from
        its recorded reference, so the flow must be importable where the workers run.
        """
        return self.submit_flow(flow, parameters)

    def submit_flow(
        self, flow: Flow[..., Any], parameters: Mapping[str, Any], *, run_id: str | None = None,
        queue: str | None = None, priority: int | None = None,
    ) -> str:  # fmt: skip
        """Like ``submit``, with parameters as a mapping, in ``queue`` with ``priority`` (default:
        the flow's); ``run_id`` (default: new) raises ``AppendConflict`` if that run exists."""
        terms = submitted_terms(flow.run_terms, queue, priority)
        _, events = self._create(flow, parameters, RunState.SCHEDULED, run_id, terms)
        return events[0].run_id

    def _create(
        self, flow: Flow[..., Any], parameters: Mapping[str, Any], state: RunState,
        run_id: str | None = None, terms: RunTerms | None = None,
    ) -> tuple[TracedFlow, list[Event]]:  # fmt: skip
        """Trace ``flow`` and append the run.created of a new run in ``state`` (``terms``: the
        flow's)."""
        terms = terms or flow.run_terms
        return create_run(self.storage.log, flow, parameters, state, terms, self.home, run_id)

    def resume(
        self,
        run_id: str,
        *,
        allow_graph_change: bool = False,
        on_events: EventListener | None = None,
        secrets: Mapping[str, Any] | None = None,
    ) -> Run:
        """Continue a run whose driver died, from its log, in this process.

        Takes the run over at once (the caller says the old driver is gone; a live one
        stands down at its next append). Finished tasks are not re-run; tasks left RUNNING
        start a new attempt. A finished run is returned as it is (see ``restart``).
        ``secrets`` gives the values of secret parameters (else ``LEDGERFLOW_SECRET_<NAME>``).
        """
        return self._resume(run_id, allow_graph_change, on_events, is_claimed=False, secrets=secrets)

    def restart(
        self,
        run_id: str,
        *,
        from_task: str | None = None,
        on_events: EventListener | None = None,
        secrets: Mapping[str, Any] | None = None,
    ) -> Run:
        """Re-run the failed part of a finished run, keeping its successes and history.

        Appends ``task.pending`` for every FAILED, UPSTREAM_FAILED or CANCELLED task (or,
        with ``from_task``, for that task and everything downstream of it; a dynamic map
        among them expands again, superseding its children), then drives the run again
        under the same id. ``secrets`` as for ``resume``. A run with nothing to re-run
        (no such task, none left to run: see ``has_nothing_to_restart``) is returned as it
        is, with nothing appended, as ``resume`` returns a finished run. Raises
        ``RunNotFinished`` and ``UnknownTask``.
        """
        events = self.events(run_id)
        view = fold(events)
        if self._nothing_to_restart(view, from_task):
            return Run(view, self._loader(view))
        traced = self._trace_recorded(view, allow_graph_change=False, secrets=secrets)
        events, view = self._take_over(events, view)
        try:  # another process may have restarted it meanwhile
            unchanged = self._nothing_to_restart(view, from_task)
        except RunNotFinished:
            self.storage.log.release(run_id, self.owner)
            raise
        if unchanged:
            self.storage.log.release(run_id, self.owner)
            return Run(view, self._loader(view))
        reopen = tasks_to_reopen(view.graph, view, from_task)
        return self._drive(
            traced, events, on_events=on_events, reason="restart", reopen=reopen,
            is_claimed=True, state=view,
        )  # fmt: skip

    @staticmethod
    def _nothing_to_restart(view: RunView, from_task: str | None) -> bool:
        """Whether a restart of this finished run would change nothing; raises
        ``RunNotFinished`` for an unfinished run and ``UnknownTask``."""
        if not view.state.is_terminal:
            raise RunNotFinished(view.run_id, view.state)
        try:
            return has_nothing_to_restart(view.graph, view, from_task)
        except KeyError:
            raise UnknownTask(view.run_id, str(from_task)) from None

    def resume_claimed(self, run_id: str, *, reason: str = "resume") -> Run:
        """Drive a run whose lease this engine's owner has just claimed (see ``Worker``):
        a crashed run (``reason`` "resume") or a SCHEDULED one (``reason`` "worker")."""
        return self._resume(run_id, False, None, is_claimed=True, reason=reason)

    def prepare_claimed(
        self, run_id: str, lease: RunLease, *, reason: str = "resume", events: list[Event] | None = None
    ) -> RunToDrive | Run:
        """A run whose lease this engine's owner has claimed, ready for a ``RunLoop`` (see
        ``Worker``); a run that has ended is settled (owed hooks delivered) and returned.
        ``events``: the run's whole log, if read already (else it is read here)."""
        prepared = self._prepare_resume(run_id, False, None, is_claimed=True, secrets=None, events=events)
        if isinstance(prepared, Run):
            return prepared
        traced, events, view = prepared
        return self._run_to_drive(traced, events, view, reason=reason, reopen=(), lease=lease, on_events=None)

    def _resume(
        self,
        run_id: str,
        allow_graph_change: bool,
        on_events: EventListener | None,
        is_claimed: bool,
        reason: str = "resume",
        secrets: Mapping[str, Any] | None = None,
    ) -> Run:
        prepared = self._prepare_resume(run_id, allow_graph_change, on_events, is_claimed, secrets)
        if isinstance(prepared, Run):
            return prepared
        traced, events, view = prepared
        return self._drive(traced, events, on_events=on_events, reason=reason, is_claimed=True, state=view)

    def _prepare_resume(
        self,
        run_id: str,
        allow_graph_change: bool,
        on_events: EventListener | None,
        is_claimed: bool,
        secrets: Mapping[str, Any] | None,
        events: list[Event] | None = None,
    ) -> tuple[TracedFlow, list[Event], RunView] | Run:
        """The run's flow, log and state to drive it on, its lease taken; or, for a run that
        has ended, the run (settled: the hooks its driver died owing delivered)."""
        with collector_paused():  # a large log: many small acyclic objects at once
            if events is None:  # a claimed run has its runs row: its events are all there is to read
                events = self.storage.log.read(run_id) if is_claimed else self.events(run_id)
            view = fold(events)
            ended = view.state.is_terminal
            traced = None if ended else self._trace_recorded(view, allow_graph_change, secrets)
        if traced is None:
            view = settle_ended_run(  # deliver the hooks its driver died owing
                view, events, lambda: self._trace_recorded(view, True, secrets),
                self.storage.log, self.owner, None if is_claimed else self.lease_ttl,
            )  # fmt: skip
            if is_claimed:
                self.storage.log.release(run_id, self.owner)
            return Run(view, self._loader(view))
        if not is_claimed:
            events, view = self._take_over(events, view)
            if view.state.is_terminal:  # the old driver finished it meanwhile
                self.storage.log.release(run_id, self.owner)
                return Run(view, self._loader(view))
        return traced, events, view

    def _take_over(self, events: list[Event], view: RunView) -> tuple[list[Event], RunView]:
        """Take the run's lease, then read the log again: an append that raced in before the
        take-over (an old driver's, a hook's delivery) is folded in, any later one fenced off."""
        self.storage.log.take_over(view.run_id, self.owner, self.lease_ttl)
        raced = self.storage.log.read(view.run_id, after_seq=view.seq)
        if not raced:
            return events, view
        return [*events, *raced], Folder(view).apply_all(raced).view()

    def _trace_recorded(
        self, view: RunView, allow_graph_change: bool, secrets: Mapping[str, Any] | None = None
    ) -> TracedFlow:
        """Re-create a run's graph from its recorded flow reference and parameters (secret
        ones from ``secrets`` or the environment, checked against their recorded hashes)."""
        if view.flow_ref is None:
            raise FlowNotFound(f"run {view.run_id} recorded no flow reference")
        flow = load_flow(view.flow_ref)
        traced = restore(view, flow, secrets, self.home).trace(flow, view.parameters)
        if traced.graph.digest() != view.graph_hash:
            if not allow_graph_change:
                raise GraphChanged(view, traced.graph)
            missing = [key for key in view.graph.nodes if key not in traced.calls]
            if missing:
                raise GraphChanged(view, traced.graph)
            traced = replace(traced, graph=view.graph)
        return traced

    def _drive(
        self,
        traced: TracedFlow,
        events: Sequence[Event],
        *,
        on_events: EventListener | None,
        reason: str,
        reopen: Sequence[str] = (),
        is_claimed: bool = False,
        state: RunView | None = None,
        created: NewEvent | None = None,
    ) -> Run:
        """Drive the run whose log is ``events`` (of a new run: its ``created`` event, which
        the drive's first append records, with the lease)."""
        run_id = events[0].run_id
        if not is_claimed:
            self.storage.log.take_over(run_id, self.owner, self.lease_ttl)
        with self._lease_group().holding(run_id, is_taken=created is None) as lease:
            run = self._run_to_drive(
                traced, events, state, reason=reason, reopen=reopen, lease=lease, on_events=on_events
            )
            view = drive_run(replace(run, created=created), self.run_ports())
        return Run(view, self._loader(view), held=run.held)

    def _lease_group(self) -> LeaseGroup:
        """The leases of the runs this engine drives, renewed by one thread (from the first)."""
        with self._leases_lock:
            if self._leases is None:
                self._leases = LeaseGroup(self.storage.log, self.owner, self.lease_ttl)
            return self._leases

    def _run_to_drive(
        self,
        traced: TracedFlow,
        events: Sequence[Event],
        state: RunView | None,
        *,
        reason: str,
        reopen: Sequence[str],
        lease: RunLease,
        on_events: EventListener | None,
    ) -> RunToDrive:
        return RunToDrive(
            traced, events, state=state, reason=reason, reopen=reopen, lease=lease,
            on_events=on_events, task_logs=traced.secrets.guard_task_logs(self.storage.task_logs),
        )  # fmt: skip

    def run_ports(self) -> RunPorts:
        """What the runs this engine drives share: its stores, its executor, its name."""
        return RunPorts(
            self.storage.log, self.storage.results, self.executor, self.owner,
            cache=self.storage.log, limits=self.storage.limits, cancels=self.storage.cancel_requests,
            placement=self.results_placement,
        )  # fmt: skip

    def cancel(self, run_id: str, reason: str | None = None, wait: bool = False) -> CancelReport:
        """Cancel a run from any process: its driver stops submitting, cancels its work and
        ends it CANCELLED (a run nobody drives is cancelled here). A run that already ended
        stays as it is (``was_finished``). With ``wait``, return once the run has ended;
        raises ``RunNotFound``."""
        canceller = Canceller(
            self.storage.log, self.storage.cancel_requests, self.storage.limits, self.owner,
            self.lease_ttl,
        )  # fmt: skip
        return canceller.cancel(run_id, reason, wait)

    def get_run(self, run_id: str) -> Run:
        """The run with this id, folded from its log."""
        return self.run_from(self.events(run_id))

    def run_from(self, events: Sequence[Event]) -> Run:
        """The run whose whole log is ``events`` (as ``events(run_id)`` reads it)."""
        view = fold(events)
        run_id = view.run_id
        if view.state is RunState.RUNNING and self.storage.log.run(run_id).state == "CRASHED":
            view = replace(view, state=RunState.CRASHED)  # its driver's lease expired
        return Run(view, self._loader(view))

    def runs(
        self, limit: int | None = None, *, flow: str | None = None,
        states: Collection[str] | None = None, since: datetime | None = None,
        until: datetime | None = None, before: str | None = None, queue: str | None = None,
    ) -> list[RunSummary]:  # fmt: skip
        """Summaries of runs, newest first (all of them without a ``limit``); optionally only
        of ``flow``, in ``states`` (run state names, CRASHED included), created in ``[since,
        until)``, in ``queue``; ``before``: the runs listed after that run id (the next page)."""
        return self.storage.log.runs(
            limit, flow=flow, states=states, since=since, until=until, before=before, queue=queue
        )

    def run_counts(
        self, *, flow: str | None = None, since: datetime | None = None, until: datetime | None = None,
        at_most: int | None = None, queue: str | None = None,
    ) -> dict[str, int]:  # fmt: skip
        """How many runs (filtered as ``runs``) are in each run state; with ``at_most``, counting
        stops early: a state with more runs counts ``at_most + 1``."""
        return self.storage.log.run_counts(flow=flow, since=since, until=until, at_most=at_most, queue=queue)

    def backfill(
        self, name: str, start: datetime, end: datetime, *, max_runs: int = DEFAULT_MAX_BACKFILL
    ) -> BackfillReport:
        """Create SCHEDULED runs for the schedule's fire times in ``[start, end]``, skipping
        those that have one; at most ``max_runs``."""
        return backfill(self, name, start, end, max_runs=max_runs)

    def _loader(self, view: RunView) -> Callable[[Mapping[str, Any] | None], Any]:
        return run_result_loader(view.flow_ref, self.storage.results, self.results_placement.open)


_default: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """The engine ``flow.run()`` uses: configured from the environment, made once (also
    when threads ask at once), and closed when the interpreter exits."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Engine()
            atexit.register(_default.close)
        return _default


provide_default_runner(default_engine)
