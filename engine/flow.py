"""``@lf.flow``: a function whose task calls build the graph of a run."""

import inspect
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar, overload

import orjson

from ..executors.structure import instances
from .core.graph import Graph
from .core.run_terms import DEFAULT_QUEUE, RunTerms
from .errors import FlowDefinitionError, InvalidParameter
from .hooks import NO_HOOKS, Hook, HookSet, hook_set
from .names import check_flow_name
from .persistence import check_flow_tasks
from .queueing import flow_terms
from .result_storage import checked_setting
from .secrets import NO_SECRETS, RunSecrets, declared_secrets
from .tracing import TaskCall, Tracer, current_tracer

if TYPE_CHECKING:
    from .run import Run

P = ParamSpec("P")
R = TypeVar("R")


class FlowRunner(Protocol):
    """What ``flow.run()`` runs a flow on: the default engine, which the API provides."""

    def run(self, flow: "Flow[..., Any]", /, **parameters: Any) -> "Run": ...


_default_runner: Callable[[], FlowRunner] | None = None


def provide_default_runner(provider: Callable[[], FlowRunner]) -> None:
    """Make ``provider`` the source of the engine ``flow.run()`` and ``flow()`` use
    (``ledgerflow.engine.api`` provides its default engine when imported)."""
    global _default_runner
    _default_runner = provider


@dataclass(frozen=True, slots=True)
class TracedFlow:
    """A flow traced with its parameters: the graph, how to call each task, the run's
    secret parameters (see ``engine.secrets``) and the flow's hooks (``engine.hooks``)."""

    graph: Graph
    calls: Mapping[str, TaskCall]
    secrets: RunSecrets = NO_SECRETS
    hooks: HookSet = NO_HOOKS
    result_storage: str | None = None  # the flow's setting (None: the engine's)
    persist_result: bool = True  # the flow's default for its tasks (see engine.persistence)


class Flow(Generic[P, R]):
    """A flow. ``flow.run(**params)`` runs it on the default engine and returns the run.

    ``secrets`` names parameters whose values are never stored in clear text (as does an
    ``lf.Secret[...]`` annotation); ``flow.secrets`` is the set of them. A run taking
    longer than ``timeout`` seconds (from its first run.running) is cancelled. ``on_failure``
    / ``on_success`` hooks run when a run ends FAILED / SUCCEEDED, ``on_retry`` when any of
    its tasks is retried (see ``engine.hooks``). ``persist_result=False`` keeps its tasks'
    results only in executor memory unless a task says otherwise (see ``engine.persistence``).
    Its runs wait in ``queue`` for a worker of that queue, higher ``priority`` first; workers
    drive at most ``max_concurrent_runs`` of them at once (a stored ``flow:NAME`` limit wins;
    see ``storage.run_slots``); ``flow.run_terms`` holds the three, which a submit may change.
    """

    def __init__(
        self, fn: Callable[P, R], *, name: str | None = None, secrets: Iterable[str] = (),
        timeout: float | None = None, on_failure: Hook | Sequence[Hook] | None = None,
        on_success: Hook | Sequence[Hook] | None = None, on_retry: Hook | Sequence[Hook] | None = None,
        result_storage: str | None = None, persist_result: bool = True, queue: str = DEFAULT_QUEUE,
        priority: int = 0, max_concurrent_runs: int | None = None,
    ) -> None:  # fmt: skip
        if not callable(fn):
            raise FlowDefinitionError(f"@flow decorates a function, got {type(fn).__name__}")
        if timeout is not None and (isinstance(timeout, bool) or not 0 < timeout < math.inf):
            raise FlowDefinitionError(
                f"flow {name or fn.__name__!r}: timeout must be a positive number of seconds, "
                f"not {timeout!r}"
            )
        self.timeout = None if timeout is None else float(timeout)
        self.result_storage = checked_setting(result_storage)
        if not isinstance(persist_result, bool):
            raise FlowDefinitionError(f"flow {name or fn.__name__!r}: persist_result must be True or False")
        self.persist_result = persist_result
        self.fn = fn
        self.name = name or fn.__name__
        check_flow_name(self.name)
        self.run_terms: RunTerms = flow_terms(self.name, queue, priority, max_concurrent_runs)
        self.signature = inspect.signature(fn)
        self.secrets = declared_secrets(self.name, fn, self.signature, secrets)
        self.hooks = hook_set(
            "flow", self.name, on_failure=on_failure, on_success=on_success, on_retry=on_retry
        )
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<flow {self.name}>"

    @property
    def ref(self) -> str:
        """An importable reference another process can load: ``module:qualname`` or
        ``/path/to/file.py:qualname`` for a flow defined in a script."""
        module = sys.modules.get(self.fn.__module__)
        file = getattr(module, "__ledgerflow_file__", None)
        if file is None and self.fn.__module__ == "__main__":
            file = getattr(module, "__file__", None)
        if file is not None:
            return f"{Path(file).resolve()}:{self.fn.__qualname__}"
        return f"{self.fn.__module__}:{self.fn.__qualname__}"

    def bind(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """Check parameters against the signature, apply defaults, normalise to JSON values."""
        unknown = [name for name in parameters if name not in self.signature.parameters]
        if unknown:
            known = ", ".join(self.signature.parameters) or "none"
            raise InvalidParameter(self.name, unknown[0], f"unknown parameter (known: {known})")
        try:
            bound = self.signature.bind(**parameters)
        except TypeError as exc:
            raise InvalidParameter(self.name, None, str(exc)) from None
        bound.apply_defaults()
        return {name: _as_json(self.name, name, value) for name, value in bound.arguments.items()}

    def trace(self, parameters: Mapping[str, Any]) -> TracedFlow:
        """Run the body with bound parameters, recording task calls instead of running them."""
        tracer = Tracer()
        token = current_tracer.set(tracer)
        try:
            returned = self.fn(**parameters)  # type: ignore[call-arg]
        finally:
            current_tracer.reset(token)
        check_flow_tasks(self.name, self.persist_result, (call.task for call in tracer.calls.values()))
        return TracedFlow(
            graph=tracer.graph(returned), calls=dict(tracer.calls), hooks=self.hooks,
            result_storage=self.result_storage, persist_result=self.persist_result,
        )  # fmt: skip

    def run(self, *args: P.args, **kwargs: P.kwargs) -> "Run":
        """Run the flow on the default engine (embedded SQLite and threads unless configured)."""
        if args:
            raise FlowDefinitionError(f"flow {self.name!r}: pass parameters by name")
        assert _default_runner is not None, "importing ledgerflow provides the default engine"
        return _default_runner().run(self, **kwargs)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the flow on the default engine and return its result."""
        if current_tracer.get() is not None:
            raise FlowDefinitionError(f"flow {self.name!r} cannot be called inside another flow")
        return self.run(*args, **kwargs).result()  # type: ignore[no-any-return]


def _as_json(flow: str, name: str, value: Any) -> Any:
    for number in instances(value, float):
        if not math.isfinite(number):  # JSON has no NaN or infinity: orjson would write null
            where = "is" if number is value else "contains"
            raise InvalidParameter(
                flow, name,
                f"the value {where} {number!r}, which JSON (and so the log) cannot record; "
                "pass finite numbers, or None for a missing value",
            )  # fmt: skip
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError as exc:
        raise InvalidParameter(
            flow, name,
            f"value of type {type(value).__name__} cannot be recorded in the log as JSON ({exc}); "
            "pass JSON values (str, int, float, bool, None, lists, dicts with str keys)",
        ) from None


@overload
def flow(fn: Callable[P, R], /) -> Flow[P, R]: ...


@overload
def flow(
    fn: None = None, /, *, name: str | None = None, secrets: Iterable[str] = (),
    timeout: float | None = None, on_failure: Hook | Sequence[Hook] | None = None,
    on_success: Hook | Sequence[Hook] | None = None, on_retry: Hook | Sequence[Hook] | None = None,
    result_storage: str | None = None, persist_result: bool = True, queue: str = DEFAULT_QUEUE,
    priority: int = 0, max_concurrent_runs: int | None = None,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(fn: Callable[P, R] | None = None, /, **options: Any) -> Any:
    """Make a function a flow; usable as ``@flow`` or ``@flow(name=..., secrets=[...],
    timeout=seconds, on_failure=hook, queue="gpu", priority=10, max_concurrent_runs=1, ...)``."""
    if fn is not None:
        return Flow(fn, **options)
    return lambda inner: Flow(inner, **options)
