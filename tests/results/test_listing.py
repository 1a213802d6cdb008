"""Listing a store: each object's key, size and time of writing, as every fsspec backend says it
(file://, memory://, s3:// through moto's server), and writes that never completed."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledgerflow.results.listing import modified_at
from ledgerflow.results.objects import ObjectStore

MOMENT = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_objects_come_with_their_size_and_time(object_store: ObjectStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)  # S3 times are whole seconds
    object_store.put("run-1/train[0]/1-aa", b"12345")
    object_store.put("run-1/pick/2-bb", b"")
    object_store.put("run-2/pick/1-cc", b"x" * 1000)
    listed = object_store.objects()
    assert [(o.key, o.size, o.is_partial) for o in listed] == [
        ("run-1/pick/2-bb", 0, False), ("run-1/train[0]/1-aa", 5, False), ("run-2/pick/1-cc", 1000, False),
    ]  # fmt: skip
    after = datetime.now(UTC) + timedelta(seconds=2)
    for found in listed:
        assert found.modified_at is not None and before <= found.modified_at <= after
    assert [o.key for o in object_store.objects("run-1")] == ["run-1/pick/2-bb", "run-1/train[0]/1-aa"]
    assert object_store.objects("run-3") == []


def test_a_write_that_never_completed_is_listed_as_partial(tmp_path: Path) -> None:
    store = ObjectStore(f"file://{tmp_path}/results")
    store.put("run-1/t/1-aa", b"done")
    (tmp_path / "results" / "run-1" / "t" / ".1-bb.1f2e3d4c.partial").write_bytes(b"half")  # a writer died
    listed = {o.key: o.is_partial for o in store.objects()}
    assert listed == {"run-1/t/1-aa": False, "run-1/t/.1-bb.1f2e3d4c.partial": True}
    assert store.keys() == ["run-1/t/1-aa"]  # keys are whole objects only


def test_reading_in_chunks(object_store: ObjectStore) -> None:
    data = bytes(range(256)) * 5_000
    object_store.put("run-1/t/1-aa", data)
    with object_store.reader("run-1/t/1-aa") as stream:
        assert stream.read(1000) == data[:1000] and stream.read() == data[1000:]


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"mtime": 1_800_000_000.5}, datetime.fromtimestamp(1_800_000_000.5, UTC)),
        ({"LastModified": MOMENT}, MOMENT),
        ({"last_modified": datetime(2027, 1, 2)}, datetime(2027, 1, 2, tzinfo=UTC)),
        ({"updated": "2027-01-02T03:04:05.000Z"}, MOMENT),
        ({"created": 1_800_000_000}, datetime.fromtimestamp(1_800_000_000, UTC)),
        ({"size": 3}, None),
        ({"updated": "yesterday", "mtime": None}, None),
    ],
)  # fmt: skip
def test_times_of_every_backend(info: dict[str, object], expected: datetime | None) -> None:
    assert modified_at(info) == expected
