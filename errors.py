"""Every error ledgerflow raises, importable from one place: ``from ledgerflow.errors import X``.

Each error is defined next to the code that raises it; this module names them all and imports
a defining module only when one of its errors is first asked for, so importing it pulls in
neither the engine nor storage.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .engine.core.errors import LedgerflowError

if TYPE_CHECKING:
    from .cli.errors import BadUsage, ParameterError
    from .engine.core.errors import InvalidEvent, InvalidTransition
    from .engine.core.fire_times import InvalidSchedule
    from .engine.errors import (
        FlowDefinitionError,
        GraphChanged,
        InvalidParameter,
        ResultNotPersisted,
        RunNotFinished,
        UnknownTask,
    )
    from .engine.flow_ref import FlowNotFound
    from .engine.hooks import HookRejected
    from .engine.lease import LeaseLost
    from .engine.notify import DeliveryFailed
    from .engine.result_details import ValueUnavailable
    from .engine.run import RunFailed
    from .engine.secret_restore import SecretMismatch, SecretMissing
    from .engine.tracing import TaskResultUsedAsValue
    from .executors.context import Cancelled, NoTaskContext
    from .executors.signals import TaskTimeout
    from .replay.checkpoint import InvalidCheckpoint
    from .replay.errors import ExportWriteFailed, UnknownTaskKey
    from .results.compression import CompressionUnavailable
    from .results.errors import ObjectConflict, ObjectNotFound, ResultCorrupted, ResultNotLoadable
    from .results.sinks import ResultStorageInvalid
    from .storage.archive import ArchiveRefused
    from .storage.errors import (
        AppendConflict,
        ConnectionFailed,
        CorruptEvent,
        DatabaseNotFound,
        DatabaseRequired,
        InvalidAppend,
        InvalidDatabaseURL,
        PayloadNotJSON,
        ResultNotFound,
        ResultNotSerializable,
        ResultRefused,
        RunNotFound,
        ScheduleExists,
        ScheduleNotFound,
        SchemaMissing,
        StorageError,
        StorageUnavailable,
    )
    from .storage.names import InvalidName

_DEFINED_IN = {
    "AppendConflict": "storage.errors",
    "ArchiveRefused": "storage.archive",
    "BadUsage": "cli.errors",
    "Cancelled": "executors.context",
    "CompressionUnavailable": "results.compression",
    "ConnectionFailed": "storage.errors",
    "CorruptEvent": "storage.errors",
    "DatabaseNotFound": "storage.errors",
    "DatabaseRequired": "storage.errors",
    "DeliveryFailed": "engine.notify",
    "ExportWriteFailed": "replay.errors",
    "FlowDefinitionError": "engine.errors",
    "FlowNotFound": "engine.flow_ref",
    "GraphChanged": "engine.errors",
    "HookRejected": "engine.hooks",
    "InvalidAppend": "storage.errors",
    "InvalidCheckpoint": "replay.checkpoint",
    "InvalidDatabaseURL": "storage.errors",
    "InvalidEvent": "engine.core.errors",
    "InvalidName": "storage.names",
    "InvalidParameter": "engine.errors",
    "InvalidSchedule": "engine.core.fire_times",
    "InvalidTransition": "engine.core.errors",
    "LeaseLost": "engine.lease",
    "NoTaskContext": "executors.context",
    "ObjectConflict": "results.errors",
    "ObjectNotFound": "results.errors",
    "ParameterError": "cli.errors",
    "PayloadNotJSON": "storage.errors",
    "ResultCorrupted": "results.errors",
    "ResultStorageInvalid": "results.sinks",
    "ResultNotFound": "storage.errors",
    "ResultNotLoadable": "results.errors",
    "ResultNotPersisted": "engine.errors",
    "ResultNotSerializable": "storage.errors",
    "ResultRefused": "storage.errors",
    "RunFailed": "engine.run",
    "RunNotFinished": "engine.errors",
    "RunNotFound": "storage.errors",
    "ScheduleExists": "storage.errors",
    "ScheduleNotFound": "storage.errors",
    "SchemaMissing": "storage.errors",
    "SecretMismatch": "engine.secret_restore",
    "SecretMissing": "engine.secret_restore",
    "StorageError": "storage.errors",
    "StorageUnavailable": "storage.errors",
    "TaskResultUsedAsValue": "engine.tracing",
    "TaskTimeout": "executors.signals",
    "UnknownTask": "engine.errors",
    "UnknownTaskKey": "replay.errors",
    "ValueUnavailable": "engine.result_details",
}

__all__ = [
    "AppendConflict",
    "ArchiveRefused",
    "BadUsage",
    "Cancelled",
    "CompressionUnavailable",
    "ConnectionFailed",
    "CorruptEvent",
    "DatabaseNotFound",
    "DatabaseRequired",
    "DeliveryFailed",
    "ExportWriteFailed",
    "FlowDefinitionError",
    "FlowNotFound",
    "GraphChanged",
    "HookRejected",
    "InvalidAppend",
    "InvalidCheckpoint",
    "InvalidDatabaseURL",
    "InvalidEvent",
    "InvalidName",
    "InvalidParameter",
    "InvalidSchedule",
    "InvalidTransition",
    "LeaseLost",
    "LedgerflowError",
    "NoTaskContext",
    "ObjectConflict",
    "ObjectNotFound",
    "ParameterError",
    "PayloadNotJSON",
    "ResultCorrupted",
    "ResultNotFound",
    "ResultNotLoadable",
    "ResultNotPersisted",
    "ResultNotSerializable",
    "ResultRefused",
    "ResultStorageInvalid",
    "RunFailed",
    "RunNotFinished",
    "RunNotFound",
    "ScheduleExists",
    "ScheduleNotFound",
    "SchemaMissing",
    "SecretMismatch",
    "SecretMissing",
    "StorageError",
    "StorageUnavailable",
    "TaskResultUsedAsValue",
    "TaskTimeout",
    "UnknownTask",
    "UnknownTaskKey",
    "ValueUnavailable",
]


def __getattr__(name: str) -> Any:
    module = _DEFINED_IN.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    error = getattr(import_module(f"{__package__}.{module}"), name)
    globals()[name] = error
    return error


def __dir__() -> list[str]:
    return sorted(__all__)
