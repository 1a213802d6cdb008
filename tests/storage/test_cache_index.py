"""The SQL cache index: rebuilt from the events, on SQLite and PostgreSQL (the port's
behaviour: ``contract/``)."""

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ledgerflow.storage import Storage, rebuild_read_model
from ledgerflow.storage.schema import cache_entries

from .builders import T0, cache_lookup, created, execute, started, succeeded, task_events


def all_entries(storage: Storage) -> list[tuple[Any, ...]]:
    with storage.database.connect() as connection:
        rows = connection.execute(sa.select(cache_entries).order_by(cache_entries.c.cache_key))
        return [tuple(row) for row in rows]


def test_rebuild_recreates_the_cache_index_from_the_events(storage: Storage) -> None:
    for i in range(3):
        run_id = f"r{i}"
        storage.log.append(run_id, 0, [created()])
        batch = [
            succeeded("a", T0 + timedelta(seconds=i), cache_key="shared", result={"inline": [i, 0.5]}),
            succeeded("b", T0, cache_key=f"own-{i}", cache_expires_at=(T0 + timedelta(days=i)).isoformat()),
            succeeded("c", T0, cache_key=None),
            *task_events(2),
        ]
        storage.log.append(run_id, 1, batch)
    storage.log.append("r0", 6, [succeeded("a", T0 - timedelta(days=1), cache_key="shared")])  # older
    before = all_entries(storage)
    assert len(before) == 4
    execute(storage.database, "DELETE FROM cache_entries")
    assert cache_lookup(storage.log, "shared") is None
    assert rebuild_read_model(storage.database) == 3
    assert all_entries(storage) == before
    entry = cache_lookup(storage.log, "shared", now=T0)
    assert entry is not None and (entry.run_id, entry.result) == ("r2", {"inline": [2, 0.5]})


def test_rebuild_skips_a_corrupt_payload(storage: Storage) -> None:
    seq = started(storage, "r1")
    storage.log.append("r1", seq, [succeeded("a", cache_key="k1"), succeeded("b", cache_key="k2")])
    execute(storage.database, "UPDATE events SET payload = :p WHERE seq = 2", p='{"cache_key": oops')
    rebuild_read_model(storage.database)
    assert [key for key, *_ in all_entries(storage)] == ["k2"]
