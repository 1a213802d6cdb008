"""ObjectStore on file://, memory:// and s3:// (s3fs against a real S3 API on loopback)."""

from pathlib import Path

import pytest

from ledgerflow.results import ObjectConflict, ObjectNotFound, object_key, sha256_of
from ledgerflow.results.objects import ObjectStore

from .conftest import s3_options


def test_put_get_exists_and_keys(object_store: ObjectStore) -> None:
    data = b"\x00\x01 bytes of a result"
    key = object_key("run-1", "train[3]", 2, sha256_of(data))
    assert key == f"run-1/train[3]/2-{sha256_of(data)[:16]}"
    assert not object_store.exists(key)
    object_store.put(key, data)
    assert object_store.exists(key) and object_store.read(key).data == data
    object_store.put("run-1/pick/1-aa", b"{}")
    object_store.put("run-2/pick/1-bb", b"[]")
    assert object_store.keys() == sorted([key, "run-1/pick/1-aa", "run-2/pick/1-bb"])
    assert object_store.keys("run-1") == sorted([key, "run-1/pick/1-aa"])
    assert object_store.keys("run-1/pick") == ["run-1/pick/1-aa"]
    assert object_store.keys("run-10") == []  # a prefix is whole segments


def test_the_same_bytes_again_is_a_no_op_and_different_bytes_are_refused(object_store: ObjectStore) -> None:
    object_store.put("r/t/1-ab", b"first")
    object_store.put("r/t/1-ab", b"first")
    with pytest.raises(ObjectConflict, match=r"'r/t/1-ab'.*never overwritten"):
        object_store.put("r/t/1-ab", b"second")
    assert object_store.read("r/t/1-ab").data == b"first"


def test_a_missing_object_and_delete(object_store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound, match=f"{object_store.url} holds no object 'r/t/1-ab'"):
        object_store.read("r/t/1-ab")
    object_store.put("r/t/1-ab", b"x")
    object_store.delete("r/t/1-ab")
    object_store.delete("r/t/1-ab")  # already gone: a no-op
    assert not object_store.exists("r/t/1-ab") and object_store.keys() == []


def test_deleting_the_last_object_of_a_local_folder_removes_the_folders_left_empty(tmp_path: Path) -> None:
    store = ObjectStore(f"file://{tmp_path}/results")
    store.put("run-1/train/1-aa", b"a")
    store.put("run-1/train/2-bb", b"b")
    store.put("run-1/pick/1-cc", b"c")
    store.delete("run-1/train/1-aa")
    assert (tmp_path / "results/run-1/train").is_dir()  # still holds 2-bb
    store.delete("run-1/train/2-bb")
    assert not (tmp_path / "results/run-1/train").exists() and (tmp_path / "results/run-1/pick").is_dir()
    store.delete("run-1/pick/1-cc")
    assert [path.name for path in tmp_path.iterdir()] == ["results"]  # the store's root stays
    assert not any((tmp_path / "results").iterdir())
    store.put("run-1/pick/1-cc", b"c")  # the folders are made again for a new write
    assert store.read("run-1/pick/1-cc").data == b"c"


def test_an_empty_object_and_a_large_one(object_store: ObjectStore) -> None:
    large = bytes(range(256)) * 40_000  # 10 MB
    object_store.put("r/empty/1-00", b"")
    object_store.put("r/large/1-11", large)
    assert object_store.read("r/empty/1-00").data == b""
    assert object_store.read("r/large/1-11").data == large


@pytest.mark.parametrize("key", ["", "/abs/1", "r/../t/1", "r//t", "r/./t"])
def test_keys_that_would_point_elsewhere_are_refused(object_store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        object_store.put(key, b"x")


def test_a_local_store_publishes_whole_files(tmp_path: Path) -> None:
    store = ObjectStore(str(tmp_path / "plain-path"))
    store.put("r/t/1-ab", b"data")
    assert (tmp_path / "plain-path" / "r" / "t" / "1-ab").read_bytes() == b"data"
    assert [p.name for p in (tmp_path / "plain-path" / "r" / "t").iterdir()] == ["1-ab"]  # no partial file


def test_credentials_stay_in_the_options(s3_endpoint: str, s3_bucket: str) -> None:
    store = ObjectStore(f"s3://{s3_bucket}/prefix", s3_options(s3_endpoint))
    store.put("r/t/1-ab", b"x")
    assert store.url == f"s3://{s3_bucket}/prefix" and "testing" not in store.url
    assert store.read("r/t/1-ab").data == b"x"
