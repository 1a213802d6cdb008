"""Result encoding (exact JSON or pickle), signatures and the signing key."""

import math
import os
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledgerflow.results.codec import decode_result, encode_result
from ledgerflow.storage import ResultNotSerializable, StorageError
from ledgerflow.storage.serialization import is_signature_valid, load_result_key, sign


class Point:
    """A module-level class: picklable."""

    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and other.x == self.x

    __hash__ = None  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("value", "fmt"),
    [
        (None, "json"),
        (1, "json"),
        (1.5, "json"),
        ("text", "json"),
        ([1, "a", None, {"k": [True]}], "json"),
        ({"nested": {"list": [1.0, 2]}}, "json"),
        ((1, 2), "pickle"),
        ({1: "int key"}, "pickle"),
        ({"x": (1,)}, "pickle"),
        (float("nan"), "pickle"),
        (datetime(2026, 1, 1, tzinfo=UTC), "pickle"),
        ({1, 2}, "pickle"),
        (Point(3), "pickle"),
        (b"bytes", "pickle"),
    ],
)
def test_encode_picks_json_only_when_exact(value: Any, fmt: str) -> None:
    encoded = encode_result(value)
    assert encoded.format == fmt
    decoded = decode_result(encoded.format, encoded.data)
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(decoded)
    else:
        assert decoded == value
        assert type(decoded) is type(value)


def test_numpy_goes_to_pickle() -> None:
    numpy = pytest.importorskip("numpy")
    encoded = encode_result(numpy.arange(3))
    assert encoded.format == "pickle"
    assert list(decode_result("pickle", encoded.data)) == [0, 1, 2]


@pytest.mark.parametrize(
    ("make", "type_name"),
    [(lambda: threading.Lock(), "lock"), (lambda: lambda: 1, "<lambda>")],
)
def test_unserializable_value_names_its_type(make: Callable[[], Any], type_name: str) -> None:
    with pytest.raises(ResultNotSerializable, match="cannot store a result of type") as info:
        encode_result(make())
    assert type_name in info.value.type_name.lower() or type_name in str(info.value)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(StorageError, match="unknown result format"):
        decode_result("yaml", b"")


def test_signatures() -> None:
    signature = sign(b"key", b"data")
    assert is_signature_valid(b"key", b"data", signature)
    assert not is_signature_valid(b"key", b"datA", signature)
    assert not is_signature_valid(b"other", b"data", signature)
    assert not is_signature_valid(b"key", b"data", None)
    assert not is_signature_valid(b"key", b"data", "")


def test_result_key_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEDGERFLOW_RESULT_KEY", "sécret")
    assert load_result_key(tmp_path) == "sécret".encode()
    assert not (tmp_path / "result.key").exists()


def test_result_key_file_is_created_once_private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LEDGERFLOW_RESULT_KEY", raising=False)
    home = tmp_path / "home"
    key = load_result_key(home)
    assert len(key) >= 32
    assert stat.S_IMODE(os.stat(home / "result.key").st_mode) == 0o600
    assert load_result_key(home) == key
    assert [p.name for p in home.iterdir()] == ["result.key"]


def test_concurrent_first_callers_agree_on_one_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LEDGERFLOW_RESULT_KEY", raising=False)
    barrier = threading.Barrier(8)

    def load(_: int) -> bytes:
        barrier.wait()
        return load_result_key(tmp_path)

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(load, range(8)))
    assert len(keys) == 1
