"""The check every load of a stored result makes: its bytes have the recorded size and sha256."""

import hashlib
from collections.abc import Sequence

from .errors import ResultCorrupted
from .refs import ResultRef

MISSING = "nothing (the object is missing)"


def sha256_of(data: bytes | memoryview) -> str:
    """The hex sha256 of ``data``, as references record it."""
    return hashlib.sha256(data).hexdigest()


def sha256_of_chunks(chunks: Sequence[memoryview]) -> str:
    """The hex sha256 of ``chunks`` one after the other (never joined)."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)  # hashlib lets other threads run while it hashes large chunks
    return digest.hexdigest()


def check_bytes(ref: ResultRef, data: bytes | memoryview, sha256: str | None = None) -> None:
    """Raise ``ResultCorrupted`` unless ``data`` has the size and sha256 ``ref`` records
    (``sha256``: the one computed as ``data`` was read, if it was)."""
    found = sha256 or sha256_of(data)
    if len(data) != ref.size:
        raise corrupted(ref, found, f"{len(data)} bytes where {ref.size} were recorded")
    if found != ref.sha256:
        raise corrupted(ref, found, "its sha256 differs from the recorded one")


def missing(ref: ResultRef) -> ResultCorrupted:
    """The error of a reference whose object is gone."""
    return corrupted(ref, MISSING, f"nothing is stored under {ref.key!r} in {ref.store}")


def corrupted(ref: ResultRef, found: str, reason: str) -> ResultCorrupted:
    """The error of ``ref``'s result, whose stored bytes hash to ``found``."""
    return ResultCorrupted(ref.run_id, ref.task_key, ref.key, ref.sha256, found, reason)
