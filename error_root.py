"""The root of every error ledgerflow raises, in a module that imports nothing of ledgerflow.

It also holds the two storage errors the result codec raises: the codec lives with the
executors, which import nothing from storage, and storage re-exports them.
"""


class LedgerflowError(Exception):
    """Base class of all ledgerflow errors; each subclass names what went wrong and where."""


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
