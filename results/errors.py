"""The errors of stored results: not storable, not loadable here, corrupted, objects missing or
conflicting.

They live here, below the executors, the engine and storage, so each of them can raise or
catch them; ``ledgerflow.errors`` names them all.
"""

from ..engine.core.errors import LedgerflowError


class StorageError(LedgerflowError):
    """A storage operation failed."""


class ResultNotSerializable(StorageError):
    """A task result can be stored neither as JSON nor as a pickle."""

    def __init__(self, type_name: str, reason: str) -> None:
        self.type_name = type_name
        super().__init__(
            f"cannot store a result of type {type_name}: not JSON and not picklable ({reason}); "
            "return plain data, or a picklable object (module-level classes and functions)"
        )


_IMPORT_IT = "import the module that defines its classes (for a flow file, load the flow first)"


class ResultNotLoadable(StorageError):
    """A stored result this process cannot decode (a class it cannot import, a missing codec)."""

    def __init__(self, ref: str, reason: str, remedy: str | None = None) -> None:
        self.ref = ref
        self.reason = reason
        self.remedy = remedy  # None: importing the module of its classes may help
        what_to_do = remedy or _IMPORT_IT
        super().__init__(f"result {ref!r} cannot be loaded here: {reason}; {what_to_do}")


class ResultCorrupted(LedgerflowError):
    """A stored result's bytes differ from the size and sha256 its event recorded, or are gone."""

    def __init__(self, run_id: str, task_key: str, ref: str, expected: str, found: str, reason: str) -> None:
        self.run_id = run_id
        self.task_key = task_key
        self.ref = ref
        self.expected = expected
        self.found = found
        self.reason = reason
        super().__init__(
            f"run {run_id}, task {task_key}: stored result {ref!r} is corrupted ({reason}): "
            f"the event records sha256 {expected}, the store holds {found}; it was altered or "
            "lost after it was recorded: restore it from a backup or run the flow again"
        )


class ObjectNotFound(LedgerflowError):
    """An object store holds nothing under a key."""

    def __init__(self, store: str, key: str) -> None:
        self.store = store
        self.key = key
        super().__init__(f"the result store {store} holds no object {key!r}")


class ObjectConflict(LedgerflowError):
    """An object store already holds different bytes under a key: objects are never replaced."""

    def __init__(self, store: str, key: str) -> None:
        self.store = store
        self.key = key
        super().__init__(
            f"the result store {store} already holds a different object {key!r}; objects are "
            "never overwritten (keys name the attempt and the content's hash)"
        )
