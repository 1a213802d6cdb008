"""Each storage interface is one protocol, which every backend's stores implement in full."""

import inspect
from typing import Any

from ledgerflow.storage import Storage, protocols
from ledgerflow.storage.protocols import (
    CacheIndex,
    CancelRequests,
    ConcurrencyLimits,
    EventLog,
    LeasedLog,
    Leases,
    ResultStore,
    Schedules,
    TaskLogs,
    Workers,
)


def _stores(storage: Storage) -> list[tuple[type, object]]:
    return [
        (EventLog, storage.log), (Leases, storage.log), (CacheIndex, storage.log),
        (LeasedLog, storage.log), (ResultStore, storage.results),
        (CancelRequests, storage.cancel_requests), (ConcurrencyLimits, storage.limits),
        (Schedules, storage.schedules), (TaskLogs, storage.task_logs), (Workers, storage.workers),
    ]  # fmt: skip


def _members(protocol: type) -> set[str]:
    """The methods a protocol declares, its bases' included."""
    return {
        name
        for klass in protocol.__mro__
        if klass.__module__ == protocols.__name__
        for name, value in vars(klass).items()
        if not name.startswith("_") and callable(value)
    }


def _public_methods(store: object) -> set[str]:
    return {
        name for name, value in vars(type(store)).items()
        if not name.startswith("_") and callable(value)
    }  # fmt: skip


def _shape(function: Any) -> list[tuple[str, Any, Any]]:
    parameters = inspect.signature(function).parameters.values()
    return [(p.name, p.kind, p.default) for p in parameters]


def test_every_store_of_an_open_storage_is_an_instance_of_its_protocol(storage: Storage) -> None:
    for protocol, store in _stores(storage):
        assert isinstance(store, protocol), (protocol.__name__, type(store).__name__)


def test_the_stores_have_the_protocols_signatures(storage: Storage) -> None:
    for protocol, store in _stores(storage):
        for name in _members(protocol):
            expected = _shape(getattr(protocol, name))
            assert _shape(getattr(type(store), name)) == expected, (type(store).__name__, name)


def test_every_public_method_of_a_store_is_in_its_protocols(storage: Storage) -> None:
    declared: dict[type, set[str]] = {}
    for protocol, store in _stores(storage):
        declared.setdefault(type(store), set()).update(_members(protocol))
    for _, store in _stores(storage):
        missing = _public_methods(store) - declared[type(store)]
        assert not missing, (type(store).__name__, missing)
