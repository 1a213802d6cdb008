"""Encoding of task results (JSON when exact, else a signed pickle) and the signing key."""

import hashlib
import hmac
import logging
import os
import pickle
import secrets
from pathlib import Path
from typing import Any

import orjson

from ..executors.invocation import EncodedResult
from .errors import ResultNotSerializable, StorageError

logger = logging.getLogger(__name__)

JSON = "json"
PICKLE = "pickle"
RESULT_KEY_ENV = "LEDGERFLOW_RESULT_KEY"
RESULT_KEY_FILE = "result.key"


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


def sign(key: bytes, data: bytes) -> str:
    """The HMAC-SHA256 signature of ``data`` under ``key``, as hex."""
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def is_signature_valid(key: bytes, data: bytes, signature: str | None) -> bool:
    """True if ``signature`` is the HMAC-SHA256 of ``data`` under ``key``."""
    if not signature:
        return False
    return hmac.compare_digest(sign(key, data), signature)


def load_result_key(home: Path) -> bytes:
    """The key that signs pickled results: $LEDGERFLOW_RESULT_KEY, else home/result.key.

    The file is created once with a random key (mode 0600); concurrent first callers
    agree on one key because it is published with an atomic link.
    """
    from_env = os.environ.get(RESULT_KEY_ENV)
    if from_env:
        return from_env.encode()
    path = Path(home) / RESULT_KEY_FILE
    if not path.exists():
        _create_key_file(path)
    key = path.read_bytes().strip()
    if not key:
        raise StorageError(f"result key file {path} is empty: delete it or set {RESULT_KEY_ENV}")
    return key


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # fails if another process published its key first
            logger.info("created result signing key %s", path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
