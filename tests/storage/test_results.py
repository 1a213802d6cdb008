"""The SQL result store refuses altered and unsigned pickles, on SQLite and PostgreSQL (the
port's behaviour: ``contract/``)."""

from typing import Any

import pytest

from ledgerflow.results import encode_result
from ledgerflow.storage import (
    ResultRefused,
    SqlResultStore,
    Storage,
    StoredResult,
)

from .builders import execute, stored_value


class Model:
    """A module-level class: picklable."""

    def __init__(self, weights: tuple[float, ...]) -> None:
        self.weights = weights


def stored(ref: str, value: Any) -> StoredResult:
    encoded = encode_result(value)
    return StoredResult(ref, "run-1", f"task-{ref}", encoded.format, encoded.data)


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
    assert stored_value(storage.results, "p") == (1, 2)
    execute(storage.database, sql, **params)
    with pytest.raises(ResultRefused, match="'p'"):
        stored_value(storage.results, "p")


def test_pickle_signed_with_another_key_is_refused(storage: Storage) -> None:
    storage.results.put_many([stored("p", (1, 2))])
    with pytest.raises(ResultRefused):
        stored_value(SqlResultStore(storage.database, b"another key"), "p")


def test_json_needs_no_signature(storage: Storage) -> None:
    storage.results.put_many([stored("j", [1, 2])])
    assert stored_value(SqlResultStore(storage.database, b"another key"), "j") == [1, 2]
