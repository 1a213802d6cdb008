"""The cache index: written with the append, looked up by key, expiring."""

from datetime import UTC, timedelta
from typing import Any

import pytest

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import (
    AppendConflict,
    CacheEntry,
    CacheIndex,
    InvalidAppend,
    Storage,
)

from ..builders import T0, cache_lookup, started, succeeded, task_events

KEYS = ("j", "k", "k1", "t")
"""Every cache key these tests write (the index is read by key only)."""


def indexed(storage: Storage) -> list[tuple[str, str]]:
    """(cache key, task key) of every entry of ``KEYS``, by key, whatever its expiry."""
    found = storage.log.cache_lookup_many(KEYS, now=T0 - timedelta(days=365))
    return [(key, found[key].task_key) for key in sorted(found)]


def test_a_cacheable_success_is_indexed(storage: Storage) -> None:
    index: CacheIndex = storage.log
    seq = started(storage, "r1")
    result = {"ref": "r1/t", "format": "json", "size": 3, "sha256": "ab"}
    storage.log.append("r1", seq, [succeeded("t", T0 + timedelta(seconds=1), cache_key="k1", result=result)])
    assert cache_lookup(index, "k1") == CacheEntry("k1", "r1", "t", result, T0 + timedelta(seconds=1), None)
    assert cache_lookup(index, "k2") is None


@pytest.mark.parametrize(
    "event",
    [
        succeeded("t"),  # no key
        succeeded("t", cache_key=None),  # the key could not be computed
        NewEvent("t", "task.cached", {"cache_key": "k1", "result": {"inline": 1}}),
        NewEvent("t", "task.running", {"attempt": 1, "cache_key": "k1"}),
    ],
)
def test_other_events_index_nothing(storage: Storage, event: NewEvent) -> None:
    seq = started(storage, "r1")
    storage.log.append("r1", seq, [event])
    assert indexed(storage) == []


def test_newer_replaces_older_and_never_the_reverse(storage: Storage) -> None:
    for i, run_id in enumerate(("r1", "r2", "r3")):
        started(storage, run_id, T0)
        storage.log.append(run_id, 1, [succeeded(f"t{i}", T0 + timedelta(seconds=10 * i), cache_key="k")])
    assert cache_lookup(storage.log, "k", now=T0).run_id == "r3"  # type: ignore[union-attr]
    started(storage, "old", T0)
    storage.log.append("old", 1, [succeeded("t", T0 + timedelta(seconds=5), cache_key="k")])
    assert cache_lookup(storage.log, "k", now=T0).run_id == "r3"  # type: ignore[union-attr]


def test_the_last_of_a_batch_wins(storage: Storage) -> None:
    seq = started(storage, "r1")
    batch = [succeeded("a", cache_key="k"), succeeded("b", cache_key="k"), succeeded("c", cache_key="j")]
    storage.log.append("r1", seq, batch)
    assert indexed(storage) == [("j", "c"), ("k", "b")]


def test_an_expired_entry_is_ignored(storage: Storage) -> None:
    seq = started(storage, "r1")
    expiry = T0 + timedelta(hours=1)
    storage.log.append("r1", seq, [succeeded("t", cache_key="k", cache_expires_at=expiry.isoformat())])
    entry = cache_lookup(storage.log, "k", now=expiry - timedelta(microseconds=1))
    assert entry is not None and entry.expires_at == expiry and entry.expires_at.tzinfo is UTC
    assert cache_lookup(storage.log, "k", now=expiry) is None
    assert cache_lookup(storage.log, "k") is None  # default: the current time, long after
    storage.log.append("r1", seq + 1, [succeeded("t", expiry, cache_key="k")])  # a fresh success
    assert cache_lookup(storage.log, "k") is not None


def test_an_offset_expiry_is_read_as_utc(storage: Storage) -> None:
    seq = started(storage, "r1")
    expiry = "2026-05-01T14:00:00+02:00"
    storage.log.append("r1", seq, [succeeded("t", cache_key="k", cache_expires_at=expiry)])
    entry = cache_lookup(storage.log, "k", now=T0 - timedelta(seconds=1))
    assert entry is not None and entry.expires_at == T0


def test_a_conflicting_append_indexes_nothing(storage: Storage) -> None:
    seq = started(storage, "r1")
    storage.log.append("r1", seq, task_events(1))
    with pytest.raises(AppendConflict):
        storage.log.append("r1", seq, [succeeded("t", cache_key="k")])
    assert cache_lookup(storage.log, "k", now=T0) is None


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"cache_key": "k" * 513}, "1 to 512 characters"),
        ({"cache_key": ""}, "1 to 512 characters"),
        ({"cache_key": "k", "result": None}, "needs a result payload"),
        ({"cache_key": "k", "cache_expires_at": "2026-05-01T12:00:00"}, "UTC-aware"),
        ({"cache_key": "k", "cache_expires_at": "tomorrow"}, "UTC-aware"),
        ({"cache_key": "k", "cache_expires_at": 1234}, "UTC-aware"),
    ],
)
def test_malformed_cache_fields_write_nothing(storage: Storage, payload: dict[str, Any], match: str) -> None:
    seq = started(storage, "r1")
    with pytest.raises(InvalidAppend, match=match):
        storage.log.append("r1", seq, [*task_events(1), succeeded("t", **payload)])
    assert len(storage.log.read("r1")) == 1 and indexed(storage) == []


def test_many_keys_are_looked_up_together(storage: Storage) -> None:
    seq = started(storage, "r1")
    expiry = T0 + timedelta(hours=1)
    batch = [succeeded(f"t{i}", cache_key=f"k{i}") for i in range(1_200)]  # more than one query's worth
    batch.append(succeeded("old", cache_key="expired", cache_expires_at=expiry.isoformat()))
    storage.log.append("r1", seq, batch)
    wanted = [f"k{i}" for i in range(0, 1_200, 3)] + ["missing", "expired"]
    found = storage.log.cache_lookup_many(wanted, now=expiry)
    assert sorted(found) == sorted(f"k{i}" for i in range(0, 1_200, 3))
    assert found["k999"].task_key == "t999" and found["k999"].run_id == "r1"
    assert storage.log.cache_lookup_many([], now=expiry) == {}
