"""Re-hashing the stored results a run's events refer to, in the database and in object
stores: each one altered or missing is named (task, ref, store, expected and found hash)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from ledgerflow.engine.core.events import Event
from ledgerflow.replay import check_results
from ledgerflow.results import DATABASE, ResultRef, object_key, sha256_of
from ledgerflow.results.integrity import MISSING
from ledgerflow.results.objects import ObjectStore
from ledgerflow.storage import Storage, StoredResult

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def succeeded(seq: int, task_key: str, result: dict[str, Any]) -> Event:
    payload = {"attempt": 1, "duration": 0.1, "result": result}
    return Event("run-1", seq, task_key, "task.succeeded", payload, NOW, "0" * 64, "1" * 64)


def in_objects(store: ObjectStore, task_key: str, data: bytes) -> dict[str, Any]:
    """Put ``data`` in ``store`` as ``task_key``'s result; its event's result payload."""
    key = object_key("run-1", task_key, 1, sha256_of(data))
    store.put(key, data)
    return ResultRef(store.url, key, "json", len(data), sha256_of(data)).to_payload()


def in_database(storage: Storage, task_key: str, data: bytes) -> dict[str, Any]:
    key = f"run-1/{task_key}/1"
    storage.results.put_many([StoredResult(key, "run-1", task_key, "json", data)])
    return ResultRef(DATABASE, key, "json", len(data), sha256_of(data)).to_payload()


def test_database_and_object_store_results_are_rehashed(storage: Storage) -> None:
    objects = ObjectStore(f"memory://check-{uuid.uuid4().hex[:12]}")
    events = [
        succeeded(2, "small", {"inline": 3}),
        succeeded(3, "in_db", in_database(storage, "in_db", b"[1,2,3]")),
        succeeded(4, "kept", in_objects(objects, "kept", b'{"a":1}')),
        succeeded(5, "edited", in_objects(objects, "edited", b'{"approved":false}')),
        succeeded(6, "gone", in_objects(objects, "gone", b"[0]")),
    ]
    assert check_results(events, storage.results).ok
    edited_key = events[3].payload["result"]["ref"]
    objects.delete(edited_key)
    objects.put(edited_key, b'{"approved":true }')
    objects.delete(events[4].payload["result"]["ref"])
    report = check_results(events, storage.results)
    assert report.checked == 4 and not report.ok
    edited, gone = report.problems
    assert (edited.seq, edited.task_key, edited.ref, edited.store) == (5, "edited", edited_key, objects.url)
    assert edited.expected == sha256_of(b'{"approved":false}')
    assert edited.found == sha256_of(b'{"approved":true }')
    assert (gone.task_key, gone.found) == ("gone", MISSING)


def test_a_result_referred_to_twice_is_checked_once(storage: Storage) -> None:
    result = in_database(storage, "t", b"[1]")
    cached = Event("run-2", 3, "t", "task.cached", {"result": result}, NOW, "0" * 64, "1" * 64)
    report = check_results([succeeded(2, "t", result), cached], storage.results)
    assert report.ok and report.checked == 1


def test_the_opener_gives_object_stores_their_options(storage: Storage) -> None:
    objects = ObjectStore(f"memory://check-{uuid.uuid4().hex[:12]}")
    events = [succeeded(2, "kept", in_objects(objects, "kept", b"[1]"))]
    opened: list[str] = []

    def open_store(url: str) -> ObjectStore:
        opened.append(url)
        return objects

    assert check_results(events, storage.results, open_store).ok and opened == [objects.url]
