"""``Engine``: run flows, and read back what the log says about them."""

import os
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from ..executors import Executor, make_executor
from ..replay.point_in_time import state_at
from ..replay.verify import VerifyReport, verify_run
from ..storage import Storage, open_storage
from ..storage.errors import ResultNotLoadable
from ..storage.protocols import RunSummary
from .events import Event, EventType, NewEvent
from .flow import Flow
from .flow_ref import FlowNotFound, load_flow
from .fold import RunView, fold
from .run import Run
from .scheduler import EventListener, Scheduler, load_result
from .states import RunState

ENGINE_VERSION = "0.1.0"


def ledgerflow_home() -> Path:
    """``LEDGERFLOW_HOME``, or ``~/.ledgerflow``: where the embedded database and keys live."""
    return Path(os.environ.get("LEDGERFLOW_HOME") or Path.home() / ".ledgerflow")


def new_run_id(now: datetime) -> str:
    """A readable id that sorts by creation time: ``20261129-031500-1f3a9c0b``."""
    return f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"


class Engine:
    """Runs flows against an event log (SQLite by default) on an executor (threads by default).

    ``database_url`` falls back to ``LEDGERFLOW_DATABASE_URL``, then to a SQLite file in
    ``LEDGERFLOW_HOME``; ``executor`` may be an executor, ``"threads"`` or ``"dask"``.
    """

    def __init__(
        self,
        database_url: str | None = None,
        executor: Executor | str | None = None,
        *,
        home: str | Path | None = None,
    ) -> None:
        self.home = Path(home) if home is not None else ledgerflow_home()
        url = database_url or os.environ.get("LEDGERFLOW_DATABASE_URL") or None
        self.storage: Storage = open_storage(url, self.home)
        self._executor_spec = executor
        self._executor: Executor | None = executor if not isinstance(executor, str | None) else None
        self._owns_executor = self._executor is None
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the executor this engine started and the database connections."""
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
        bound = flow.bind(parameters)
        traced = flow.trace(bound)
        now = datetime.now(UTC)
        run_id = new_run_id(now)
        created = NewEvent(
            None,
            EventType.RUN_CREATED.value,
            {
                "flow": flow.name,
                "flow_ref": flow.ref,
                "parameters": bound,
                "graph": traced.graph.to_dict(),
                "graph_hash": traced.graph.digest(),
                "state": RunState.PENDING.value,
                "engine_version": ENGINE_VERSION,
            },
            now,
        )
        events = self.storage.log.append(run_id, 0, [created])
        if on_events is not None:
            on_events(events)
        scheduler = Scheduler(
            run_id=run_id,
            traced=traced,
            events=events,
            log=self.storage.log,
            results=self.storage.results,
            executor=self.executor,
            owner=self.owner,
            on_events=on_events,
        )
        view = scheduler.drive()
        return Run(view, self._loader(view))

    def get_run(self, run_id: str) -> Run:
        """The run with this id, folded from its log."""
        view = fold(self.events(run_id))
        return Run(view, self._loader(view))

    def runs(self, limit: int | None = None) -> list[RunSummary]:
        """Summaries of runs, newest first."""
        return self.storage.log.runs(limit)

    def events(self, run_id: str) -> list[Event]:
        """Every event of a run, in seq order; raises ``RunNotFound``."""
        self.storage.log.run(run_id)
        return self.storage.log.read(run_id)

    def verify(self, run_id: str) -> VerifyReport:
        """Re-hash the run's chain: ``.ok`` and ``.first_bad_seq`` of an edited or missing event."""
        return verify_run(self.storage, run_id)

    def state_at(
        self, run_id: str, seq: int | None = None, at: datetime | None = None
    ) -> RunView:
        """The run's state as it was after event ``seq`` or at time ``at``."""
        return state_at(self.events(run_id), seq=seq, at=at)

    def _loader(self, view: RunView) -> Callable[[Mapping[str, Any] | None], Any]:
        """Loads results of this run; a pickle naming the flow's module imports it first."""

        def load(payload: Mapping[str, Any] | None) -> Any:
            try:
                return load_result(payload, self.storage.results)
            except ResultNotLoadable:
                if view.flow_ref is None:
                    raise
                try:
                    load_flow(view.flow_ref)
                except FlowNotFound:
                    raise ResultNotLoadable(
                        str((payload or {}).get("ref")), f"flow {view.flow_ref!r} is not importable"
                    ) from None
                return load_result(payload, self.storage.results)

        return load


_default: Engine | None = None


def default_engine() -> Engine:
    """The engine ``flow.run()`` uses: configured from the environment, made once."""
    global _default
    if _default is None:
        _default = Engine()
    return _default
