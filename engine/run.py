"""``Run``: the handle a caller gets for a run — its id, state, tasks and result."""

from collections.abc import Callable, Mapping
from typing import Any

from ..results.codec import EncodedResult, decode_result
from .core.errors import LedgerflowError
from .core.events import is_persisted
from .core.fold import RunView, TaskView
from .core.graph import RESULT_REF
from .core.states import RunState, TaskState
from .errors import ResultNotPersisted


class RunFailed(LedgerflowError):
    """``run.result()`` was asked of a run that did not succeed."""

    def __init__(self, view: RunView) -> None:
        self.run_id = view.run_id
        self.state = view.state
        failed = [t for t in view.tasks.values() if t.state is TaskState.FAILED]
        detail = ""
        if failed:
            error = failed[0].error or {}
            detail = (
                f"; task {failed[0].key!r} failed with {error.get('type', '?')}: "
                f"{error.get('message', '')}"
            )
        super().__init__(
            f"run {view.run_id} of flow {view.flow!r} ended {view.state.value}{detail} "
            f"(see `ledgerflow show {view.run_id}`)"
        )


class Run:
    """A run as recorded: ``id``, ``state``, ``tasks``, ``result()``.

    ``held``: the encoded values of unpersisted results the process that drove the run holds
    (the ones its flow returns); any other result that was not persisted cannot be read.
    """

    def __init__(
        self,
        view: RunView,
        load: Callable[[Mapping[str, Any] | None], Any],
        held: Mapping[str, EncodedResult] | None = None,
    ) -> None:
        self.view = view
        self._load = load
        self._held = held or {}

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.flow} {self.state.value}>"

    @property
    def id(self) -> str:
        """The run id."""
        return self.view.run_id

    @property
    def flow(self) -> str:
        """The flow's name."""
        return self.view.flow

    @property
    def state(self) -> RunState:
        """The run's state."""
        return self.view.state

    @property
    def parameters(self) -> Mapping[str, Any]:
        """The parameters the run was started with."""
        return self.view.parameters

    @property
    def tasks(self) -> Mapping[str, TaskView]:
        """Every task of the run by key (mapped children included)."""
        return self.view.tasks

    def result(self) -> Any:
        """The flow's return value with task results filled in (None for a skipped task).

        Raises ``RunFailed`` unless the run SUCCEEDED, and ``ResultNotPersisted`` for a task
        result that was not persisted, read from another ``Run`` than the one its drive returned.
        """
        if self.view.state is not RunState.SUCCEEDED:
            raise RunFailed(self.view)
        return self._resolve(self.view.graph.result)

    def task_result(self, key: str) -> Any:
        """One task's result (a mapped task's result is the list of its children's).

        Raises ``ResultNotPersisted`` for a result that was not persisted, unless this ``Run``
        comes from the drive that computed it and the flow returns it."""
        task = self.view.tasks[key]
        if task.state is TaskState.MAPPED:
            return [self.task_result(child.key) for child in self.view.children(key)]
        if not task.state.is_success:
            return None
        if is_persisted(task.result):
            return self._load(task.result)
        held = self._held.get(key)
        if held is None:
            raise ResultNotPersisted(self.id, key)
        return decode_result(held.format, held.data)

    def _resolve(self, structure: Any) -> Any:
        if isinstance(structure, dict):
            if set(structure) == {RESULT_REF}:
                return self.task_result(structure[RESULT_REF])
            return {key: self._resolve(value) for key, value in structure.items()}
        if isinstance(structure, list):
            return [self._resolve(item) for item in structure]
        return structure
