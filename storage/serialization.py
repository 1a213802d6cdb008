"""Signing of pickled results and the key that signs them."""

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from .errors import StorageError

logger = logging.getLogger(__name__)

RESULT_KEY_ENV = "LEDGERFLOW_RESULT_KEY"
RESULT_KEY_FILE = "result.key"


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
