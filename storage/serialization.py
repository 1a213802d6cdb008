"""Signing of pickled results, the key that signs them, and the checks every result store
makes: a known format on put, a matching signature on load."""

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from ..results.codec import FORMATS, decode_stored, is_signed
from ..results.refs import ResultRef
from .errors import ResultRefused, StorageError
from .protocols import StoredBytes, StoredResult

logger = logging.getLogger(__name__)

RESULT_KEY_ENV = "LEDGERFLOW_RESULT_KEY"
RESULT_KEY_FILE = "result.key"


def sign(key: bytes, data: bytes | memoryview) -> str:
    """The HMAC-SHA256 signature of ``data`` under ``key``, as hex."""
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def is_signature_valid(key: bytes, data: bytes | memoryview, signature: str | None) -> bool:
    """True if ``signature`` is the HMAC-SHA256 of ``data`` under ``key``."""
    if not signature:
        return False
    return hmac.compare_digest(sign(key, data), signature)


def signature_for(key: bytes, result: StoredResult) -> str | None:
    """The signature ``result`` is stored with (pickles are signed, JSON is not); raises
    ``StorageError`` for an unknown format."""
    if result.format not in FORMATS:
        raise StorageError(
            f"result {result.ref!r} of run {result.run_id}, task {result.task_key}: "
            f"unknown format {result.format!r} (expected one of {', '.join(FORMATS)})"
        )
    return sign(key, result.data) if is_signed(result.format) else None


def load_signed(
    key: bytes,
    ref: str,
    fmt: str,
    data: bytes | memoryview,
    signature: str | None,
    compression: str | None = None,
) -> Any:
    """Decode a stored result (signed over its stored bytes, compressed with ``compression``);
    raises ``ResultRefused`` for a pickle whose signature does not match ``key``,
    ``ResultNotLoadable`` if it cannot be decoded here."""
    if is_signed(fmt) and not is_signature_valid(key, data, signature):
        logger.warning("refused result %s: bad signature", ref)
        raise ResultRefused(ref)
    return decode_stored(ref, fmt, data, compression)


def sign_reference(key: bytes, sha256: str) -> str:
    """The signature of a pickle an executor wrote to an object store: over its sha256 (the
    driver never holds its bytes, and the key never leaves the driver)."""
    return sign(key, _reference_message(sha256))


def check_reference(key: bytes, ref: ResultRef, signature: str | None) -> None:
    """Raise ``ResultRefused`` for a pickle in an object store whose ``signature`` (over its
    sha256) does not match ``key``: bytes that match that sha256 are then the ones a holder
    of the key recorded."""
    if is_signed(ref.format) and not is_signature_valid(key, _reference_message(ref.sha256), signature):
        logger.warning("refused result %s in %s: bad signature", ref.key, ref.store)
        raise ResultRefused(ref.key)


def decode_referenced(key: bytes, ref: ResultRef, data: bytes | memoryview, signature: str | None) -> Any:
    """Decode an object store's bytes, already checked against ``ref``'s sha256 (a pickle's
    ``signature`` is checked first)."""
    check_reference(key, ref, signature)
    return decode_stored(ref.key, ref.format, data, ref.compression)


def _reference_message(sha256: str) -> bytes:
    return f"ledgerflow result sha256:{sha256}".encode()


class SignedResults:
    """What every result store does with its signing ``_key``: decode checked bytes (a pickle's
    signature checked first) and sign and check the references of pickles in object stores."""

    _key: bytes

    def decode(self, ref: str, format: str, stored: StoredBytes, compression: str | None = None) -> Any:
        """Decode checked bytes (compressed with ``compression``); raises ``ResultRefused`` for
        a pickle whose signature does not match this store's key, ``ResultNotLoadable`` if it
        cannot be loaded here."""
        return load_signed(self._key, ref, format, stored.data, stored.signature, compression)

    def sign_reference(self, sha256: str) -> str:
        """The signature of a pickle an executor wrote to an object store (over its sha256)."""
        return sign_reference(self._key, sha256)

    def check_reference(self, ref: ResultRef, signature: str | None) -> None:
        """Raise ``ResultRefused`` for a pickle in an object store signed with another key."""
        check_reference(self._key, ref, signature)

    def decode_referenced(self, ref: ResultRef, data: bytes | memoryview, signature: str | None) -> Any:
        """Decode an object store's bytes, already checked against ``ref``'s sha256."""
        return decode_referenced(self._key, ref, data, signature)


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
