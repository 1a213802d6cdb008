"""An object store whose reads can be denied, as an S3 bucket denies a process without
credentials (s3fs raises ``PermissionError``): ``locked://bucket/prefix``."""

import secrets
from typing import Any

import pytest
from fsspec.implementations.memory import MemoryFileSystem
from fsspec.registry import known_implementations

PROTOCOL = "locked"


class LockedFileSystem(MemoryFileSystem):
    """``memory://`` whose reads raise ``PermissionError`` while ``is_locked``."""

    protocol = PROTOCOL
    is_locked = False

    def cat_file(self, path: str, start: Any = None, end: Any = None, **kwargs: Any) -> Any:
        if LockedFileSystem.is_locked:
            raise PermissionError(f"Access Denied: no credentials to read {path}")
        return super().cat_file(path, start, end, **kwargs)


def locked_store(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register ``locked://`` with fsspec (unlocked) for this test; a new store's URL."""
    monkeypatch.setitem(known_implementations, PROTOCOL, {"class": f"{__name__}.LockedFileSystem"})
    monkeypatch.setattr(LockedFileSystem, "is_locked", False)
    return f"{PROTOCOL}://bucket-{secrets.token_hex(4)}/results"


def lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deny every read of a ``locked://`` store from now on (until the test ends)."""
    monkeypatch.setattr(LockedFileSystem, "is_locked", True)
