"""Encoding that fits the data: JSON, a pickle byte for byte as ``pickle.dumps`` gives it, and
numpy and pandas buffers out of band, loaded without a second copy; stores write the chunks in
order and hash them as they go."""

import hashlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from ledgerflow.errors import StorageError
from ledgerflow.results import PICKLE, PICKLE_BUFFERS, decode_result, encode
from ledgerflow.results.buffers import ALIGNMENT
from ledgerflow.results.objects import ObjectStore

from .samples import SAMPLES, same


@pytest.mark.parametrize("kind", SAMPLES)
def test_every_sample_round_trips(kind: str) -> None:
    value = SAMPLES[kind]()
    encoding = encode(value)
    assert same(decode_result(encoding.format, encoding.joined()), value)


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [
        ("random float64", PICKLE_BUFFERS),
        ("fortran order", PICKLE_BUFFERS),
        ("DataFrame", PICKLE_BUFFERS),
        ("mixed", PICKLE_BUFFERS),
        ("non-contiguous", PICKLE),  # numpy pickles a copy of a strided array in band
        ("0-d", PICKLE),
        ("small", PICKLE),  # buffers under 64 KiB stay in the pickle
        ("object array", PICKLE),
        ("bytes", PICKLE),
    ],
)
def test_large_buffers_go_out_of_band_and_the_rest_is_a_plain_pickle(kind: str, fmt: str) -> None:
    assert encode(SAMPLES[kind]()).format == fmt


@pytest.mark.parametrize("value", [{"a": [1, 2.5, None]}, (1, 2), {1, 2}, b"x" * 300_000, "t" * 100])
def test_json_and_pickle_bytes_are_those_of_orjson_and_pickle_dumps(value: Any) -> None:
    encoding = encode(value)
    expected = orjson.dumps(value) if encoding.format == "json" else pickle.dumps(value, protocol=5)
    assert encoding.joined() == expected  # the same value stored before keeps its sha256


def test_encoding_makes_no_copy_of_large_bytes_or_array_data() -> None:
    data = b"\x01" * 1_000_000
    array = np.arange(1_000_000, dtype=np.float64)
    assert any(chunk.obj is data for chunk in encode(data).chunks)
    assert any(
        np.shares_memory(np.frombuffer(chunk, dtype=np.uint8), array) for chunk in encode(array).chunks
    )


def test_loaded_arrays_share_the_bytes_read_are_writable_and_aligned() -> None:
    value = {"a": np.arange(100_000, dtype=np.complex128), "b": np.ones((500, 300), dtype=np.int16)}
    data = bytearray(encode(value).joined())
    loaded = decode_result(PICKLE_BUFFERS, data)
    for name in value:
        array = loaded[name]
        assert np.shares_memory(array, np.frombuffer(data, dtype=np.uint8))  # no second copy
        assert array.flags.writeable and array.flags.aligned
        assert (array.ctypes.data - np.frombuffer(data, dtype=np.uint8).ctypes.data) % ALIGNMENT == 0
    from_bytes = decode_result(PICKLE_BUFFERS, bytes(data))  # read-only bytes: loaded from a copy
    assert from_bytes["a"].flags.writeable and same(from_bytes, value)


def test_old_payloads_load_unchanged() -> None:
    value = {"weights": np.arange(100_000.0), "name": "model"}
    assert same(decode_result(PICKLE, pickle.dumps(value, protocol=4)), value)
    assert same(decode_result(PICKLE, pickle.dumps(value, protocol=5)), value)
    assert decode_result("json", b'{"a":[1,2]}') == {"a": [1, 2]}


def test_a_malformed_pickle_buffers_result_is_refused() -> None:
    data = encode(np.arange(100_000.0)).joined()
    with pytest.raises(StorageError, match="pickle-buffers result is malformed"):
        decode_result(PICKLE_BUFFERS, data[:-8])
    with pytest.raises(StorageError, match="malformed"):
        decode_result(PICKLE_BUFFERS, b"NOPE" + data[4:])


@pytest.mark.parametrize("size", [0, 10, 20_000_000])  # small: hashed inline; large: by a second thread
def test_a_store_writes_the_chunks_in_order_hashing_them_and_reads_them_back_hashed(
    tmp_path: Path, size: int
) -> None:
    store = ObjectStore(f"file://{tmp_path}/results")
    chunks = [memoryview(b"head"), memoryview(bytes(range(256)) * (size // 256)), memoryview(b"tail")]
    whole = b"".join(chunks)
    written = store.write(chunks, lambda sha256: f"r/t/1-{sha256[:16]}")
    assert written.sha256 == hashlib.sha256(whole).hexdigest() and written.size == len(whole)
    assert written.key == f"r/t/1-{written.sha256[:16]}"
    fetched = store.read(written.key)  # hashed while read, in slices
    assert fetched.data == whole and fetched.sha256 == written.sha256
    assert store.write(chunks, lambda sha256: f"r/t/1-{sha256[:16]}") == written  # again: a no-op
    assert store.keys() == [written.key]  # nothing partial left behind


def test_arrays_loaded_from_a_local_store_share_the_buffer_read(tmp_path: Path) -> None:
    value = np.arange(1_000_000, dtype=np.float64)
    store = ObjectStore(f"file://{tmp_path}/results")
    encoding = encode(value)
    written = store.write(encoding.chunks, lambda sha256: f"r/t/1-{sha256[:16]}")
    fetched = store.read(written.key)
    loaded = decode_result(encoding.format, fetched.data)
    assert np.array_equal(loaded, value) and loaded.flags.writeable
    assert np.shares_memory(loaded, np.frombuffer(fetched.data, dtype=np.uint8))  # read once, not copied
