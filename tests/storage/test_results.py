"""The SQL result store refuses pickles altered or unsigned in the database, on SQLite and
PostgreSQL (the port's behaviour: ``contract/``)."""

from typing import Any

import pytest

from ledgerflow.storage import ResultRefused, Storage

from .builders import execute, stored, stored_value


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
