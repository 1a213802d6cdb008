"""Encoding of task results: exact JSON when possible, else a pickle (signed by the store)."""

import pickle
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import ResultNotSerializable, StorageError

JSON = "json"
PICKLE = "pickle"


@dataclass(frozen=True, slots=True)
class EncodedResult:
    """A task's return value, encoded for the result store."""

    format: str  # "json" (orjson bytes) or "pickle" (unsigned; the store signs it)
    data: bytes


def _is_same(decoded: Any, value: Any) -> bool:
    """True if ``decoded`` equals ``value`` with the same type at every level."""
    if type(decoded) is not type(value):
        return False
    if isinstance(value, list):
        return len(decoded) == len(value) and all(map(_is_same, decoded, value))
    if isinstance(value, dict):
        return decoded.keys() == value.keys() and all(
            _is_same(decoded[key], item) for key, item in value.items()
        )
    return bool(decoded == value)


def _as_json(value: Any) -> bytes | None:
    """orjson bytes of ``value`` if they load back to an identical value, else None."""
    try:
        data = orjson.dumps(value)
    except TypeError:
        return None
    if not _is_same(orjson.loads(data), value):
        return None
    # orjson's bytes keep the 4 KiB buffer they were written into: a copy of the exact
    # size keeps a map of many small results small while their outcomes are held.
    return bytes(memoryview(data)) if len(data) < 2048 else data


def encode_result(value: Any) -> EncodedResult:
    """Encode a task result: exact JSON when possible, else a pickle (signed by the store)."""
    data = _as_json(value)
    if data is not None:
        return EncodedResult(JSON, data)
    try:
        return EncodedResult(PICKLE, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception as exc:  # pickling fails with many types (PicklingError, TypeError, ...)
        raise ResultNotSerializable(type(value).__qualname__, f"{type(exc).__name__}: {exc}") from exc


def decode_result(format: str, data: bytes) -> Any:
    """Decode a result encoded by ``encode_result`` (verify a pickle's signature first)."""
    if format == JSON:
        return orjson.loads(data)
    if format == PICKLE:
        return pickle.loads(data)  # callers verify the HMAC signature first
    raise StorageError(f"unknown result format {format!r} (expected 'json' or 'pickle')")
