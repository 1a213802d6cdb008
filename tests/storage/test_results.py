"""The ResultStore contract, on SQLite and PostgreSQL."""

from typing import Any

import pytest

from ledgerflow.results import PICKLE, encode_result
from ledgerflow.storage import (
    ResultNotFound,
    ResultRefused,
    ResultStore,
    SqlResultStore,
    Storage,
    StorageError,
    StoredResult,
)

from .builders import execute


class Model:
    """A module-level class: picklable."""

    def __init__(self, weights: tuple[float, ...]) -> None:
        self.weights = weights


def stored(ref: str, value: Any) -> StoredResult:
    encoded = encode_result(value)
    return StoredResult(ref, "run-1", f"task-{ref}", encoded.format, encoded.data)


def get(results: ResultStore, ref: str) -> Any:
    """Read and decode a result as stored (refs named "p..." are pickles, others JSON)."""
    return results.decode(ref, PICKLE if ref.startswith("p") else "json", results.read(ref))


def test_json_and_pickle_round_trip(storage: Storage) -> None:
    storage.results.put_many([stored("j", {"auc": 0.93, "names": ["a"]}), stored("p", Model((1.0, 2.0)))])
    assert get(storage.results, "j") == {"auc": 0.93, "names": ["a"]}
    model = get(storage.results, "p")
    assert isinstance(model, Model) and model.weights == (1.0, 2.0)


def test_missing_result(storage: Storage) -> None:
    with pytest.raises(ResultNotFound, match="'nope'"):
        storage.results.read("nope")


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("UPDATE results SET data = :data WHERE ref = 'p'", {"data": b"\x80\x05K\x01."}),
        ("UPDATE results SET signature = NULL WHERE ref = 'p'", {}),
        ("UPDATE results SET signature = :s WHERE ref = 'p'", {"s": "0" * 64}),
    ],
)
def test_altered_or_unsigned_pickle_is_refused(storage: Storage, sql: str, params: dict[str, Any]) -> None:
    storage.results.put_many([stored("p", (1, 2))])
    assert get(storage.results, "p") == (1, 2)
    execute(storage.engine, sql, **params)
    with pytest.raises(ResultRefused, match="'p'"):
        get(storage.results, "p")


def test_pickle_signed_with_another_key_is_refused(storage: Storage) -> None:
    storage.results.put_many([stored("p", (1, 2))])
    with pytest.raises(ResultRefused):
        get(SqlResultStore(storage.engine, b"another key"), "p")


def test_json_needs_no_signature(storage: Storage) -> None:
    storage.results.put_many([stored("j", [1, 2])])
    assert get(SqlResultStore(storage.engine, b"another key"), "j") == [1, 2]


def test_put_is_idempotent_but_refs_are_unique(storage: Storage) -> None:
    storage.results.put_many([stored("a", 1)])
    storage.results.put_many([stored("a", 1), stored("b", 2)])
    assert (get(storage.results, "a"), get(storage.results, "b")) == (1, 2)
    with pytest.raises(StorageError, match="different data"):
        storage.results.put_many([stored("a", 3)])
    assert get(storage.results, "a") == 1


def test_unknown_format_is_refused(storage: Storage) -> None:
    with pytest.raises(StorageError, match="unknown format"):
        storage.results.put_many([StoredResult("x", "r", "t", "yaml", b"")])
