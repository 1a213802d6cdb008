"""A run's task inputs: the arguments of each task, its invocation, and its upstream values."""

from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from ...executors.arguments import holds_only_scalars
from ...executors.invocation import Input, Invocation, Outcome, Stored, Value
from ...results.codec import decode_result
from ...results.refs import ResultRef
from ...results.sinks import ResultSink
from ...storage.protocols import ResultStore
from ..arguments import child_arguments, expand_parents, upstream_keys
from ..core.events import is_persisted
from ..core.graph import result_refs
from ..core.machine import RunMachine
from ..errors import ResultNotPersisted
from ..flow import TracedFlow
from ..persistence import persists
from ..recorder import RunRecorder
from ..result_storage import ResultPlacement
from ..result_values import load_result
from ..task import Task
from ..tracing import TaskCall


class RunInputs:
    """What a run's tasks are called with, read from the machine's state.

    ``handles`` keeps the futures of attempts whose results downstream tasks take (on Dask
    they pass from worker to worker); any other upstream value is loaded from its event's
    result payload (inline, pending in the recorder, or from the result store).
    """

    def __init__(
        self,
        traced: TracedFlow,
        machine: RunMachine,
        results: ResultStore,
        recorder: RunRecorder,
        placement: ResultPlacement,
    ) -> None:
        self._traced = traced
        self._placement = placement
        self._machine = machine
        self._results = results
        self._recorder = recorder
        self.handles: dict[str, Future[Outcome]] = {}
        self._has_dynamic_maps = any(n.map_over is not None for n in traced.graph.nodes.values())
        self._has_consumers = {key for key, down in traced.graph.downstream().items() if down}
        self._returned = set(result_refs(traced.graph.result))  # the tasks the flow returns
        self._sinks: dict[tuple[int, bool], ResultSink] = {}  # by task, and whether the flow returns it

    def call_of(self, key: str) -> TaskCall:
        """The traced call of a task (a mapped child's: its parent's)."""
        return self._traced.calls[self._node_of(key)]

    def is_consumed(self, key: str) -> bool:
        """Whether a downstream task takes this task's result (a child: its parent's)."""
        return self._node_of(key) in self._has_consumers

    def _node_of(self, key: str) -> str:
        """The graph node of a task: its own, or a mapped child's parent."""
        parent = self._machine.task(key).parent
        return key if parent is None else parent

    def arguments(self, key: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The task's arguments with ``Upstream`` placeholders for upstream results."""
        task_view = self._machine.task(key)
        call = self.call_of(key)
        if task_view.parent is not None:
            args, kwargs = child_arguments(call, int(key[len(task_view.parent) + 1 : -1]))
        else:
            args, kwargs = call.args, dict(call.kwargs)
        if self._has_dynamic_maps:
            args, kwargs = expand_parents((args, kwargs), self._machine.live_view())
        return tuple(args), kwargs

    def invocation(self, key: str, trace: Mapping[str, str] | None = None) -> Invocation:
        """The invocation of the task's current attempt (raises if an input cannot load);
        ``trace``: its span context (see ``engine.spans``)."""
        task_view = self._machine.task(key)
        node = task_view.parent or key
        task = self._traced.calls[node].task
        args, kwargs = self.arguments(key)
        if holds_only_scalars(args, kwargs):  # e.g. a mapped child
            inputs: dict[str, Input] = {}
        else:
            inputs = {upstream: self._input(upstream) for upstream in upstream_keys((args, kwargs))}
        return Invocation(
            run_id=self._machine.run_id,
            task_key=key,
            attempt=task_view.attempts,
            fn=task.fn,
            args=args,
            kwargs=kwargs,
            inputs=inputs,
            timeout=task.timeout,
            retry_on=task.retry_on,
            resources=task.resources,
            masked=self._traced.secrets.texts,
            sink=self._sink(task, node in self._returned),
            trace=trace,
        )

    def _sink(self, task: Task[..., Any], is_returned: bool) -> ResultSink:
        """Where a task's results go (the same for each of its calls the flow does not return)."""
        sink = self._sinks.get((id(task), is_returned))
        if sink is None:
            sink = self._sinks[id(task), is_returned] = self._placement.sink(
                task.result_storage, self._traced.result_storage,
                persist=persists(task.persist_result, self._traced.persist_result),
                to_driver=is_returned,
            )  # fmt: skip
        return sink

    def load_if_succeeded(self, key: str) -> Any:
        """The task's value if it succeeded, else None."""
        return self.load(key) if self._machine.task(key).state.is_success else None

    def load(self, key: str) -> Any:
        """The task's recorded value (``ResultNotPersisted`` if it was not persisted: its value
        is where the task ran)."""
        payload = self._machine.task(key).result
        if not is_persisted(payload):
            raise ResultNotPersisted(self._machine.run_id, key)
        pending = self._recorder.pending_result(payload["ref"]) if payload and "ref" in payload else None
        if payload and pending is not None:  # recorded in this round, not yet written to the store
            return decode_result(pending.format, pending.data, payload.get("compression"))
        return load_result(payload, self._results, self._placement.open)

    def _input(self, key: str) -> Input:
        if not self._machine.task(key).state.is_success:
            return Value(None)  # a failed or skipped upstream of an all_finished/any_failed task
        handle = self.handles.get(key)
        if handle is not None:
            return handle
        payload = self._machine.task(key).result
        if not is_persisted(payload):  # computed by an earlier drive: the machine re-runs it first
            raise ResultNotPersisted(self._machine.run_id, key)
        if payload is not None and "store" in payload:  # read where the task runs, not here
            ref = ResultRef.from_payload(payload)
            self._results.check_reference(ref, payload.get("signature"))
            return Stored(ref, self._placement.options_for(ref.store))
        return Value(self.load(key))
