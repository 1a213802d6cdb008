"""An object store on any fsspec filesystem (``file://``, ``memory://``, ``s3://``, ...).

Objects are written once: ``put`` never replaces different bytes under a key, so an event's
reference keeps meaning the object it was written with. The store's URL as the log may show
it carries no credentials; those go in ``storage_options``, handed to fsspec.
"""

import logging
import secrets
from collections.abc import Mapping
from typing import Any, BinaryIO, cast

import fsspec
from fsspec.spec import AbstractFileSystem

from .errors import ObjectConflict, ObjectNotFound
from .listing import StoredObject, modified_at
from .refs import public_url

logger = logging.getLogger(__name__)


class ObjectStore:
    """Bytes under keys (``run/task/attempt-hash``) below the directory or prefix of ``url``."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        fs, root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        self._fs: AbstractFileSystem = fs
        self._root = root.rstrip("/")
        self._is_local = "file" in _protocols(fs)
        self.url = public_url(url)

    def _path(self, key: str) -> str:
        if not key or key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
            raise ValueError(f"invalid object key {key!r}: relative segments without '.' or '..'")
        return f"{self._root}/{key}"

    def put(self, key: str, data: bytes) -> None:
        """Write ``data`` under ``key``; the same bytes again is a no-op, different bytes raise
        ``ObjectConflict``."""
        path = self._path(key)
        if self._fs.exists(path):
            if self._fs.cat_file(path) != data:
                raise ObjectConflict(self.url, key)
            return
        if self._is_local:  # a local file is visible while written: publish it by a rename
            parent = path.rpartition("/")[0]
            self._fs.makedirs(parent, exist_ok=True)
            partial = f"{parent}/.{key.rpartition('/')[2]}.{secrets.token_hex(4)}.partial"
            self._fs.pipe_file(partial, data)
            self._fs.mv(partial, path)
        else:  # object stores publish a put whole
            self._fs.pipe_file(path, data)
        logger.debug("wrote %s (%d bytes) to %s", key, len(data), self.url)

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; raises ``ObjectNotFound``."""
        try:
            data = self._fs.cat_file(self._path(key))
        except FileNotFoundError:
            raise ObjectNotFound(self.url, key) from None
        return bytes(data)

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        return bool(self._fs.exists(self._path(key)))

    def keys(self, prefix: str = "") -> list[str]:
        """The keys of every object under ``prefix`` (a key's leading segments), sorted."""
        return [found.key for found in self.objects(prefix) if not found.is_partial]

    def objects(self, prefix: str = "") -> list[StoredObject]:
        """Every object under ``prefix`` with its size and time of writing, by key; writes
        that never completed included (``is_partial``)."""
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self._root
        self._fs.invalidate_cache(base)
        if not self._fs.exists(base):
            return []
        root = self._fs._strip_protocol(self._root).rstrip("/") + "/"
        found = {
            self._fs._strip_protocol(path): info for path, info in self._fs.find(base, detail=True).items()
        }
        return [
            StoredObject(path[len(root) :], int(info.get("size") or 0), modified_at(info), _is_partial(path))
            for path, info in sorted(found.items())
            if path.startswith(root)
        ]

    def reader(self, key: str) -> BinaryIO:
        """The object under ``key``, opened for reading in chunks; raises ``ObjectNotFound``."""
        try:
            return cast(BinaryIO, self._fs.open(self._path(key), "rb"))
        except FileNotFoundError:
            raise ObjectNotFound(self.url, key) from None

    def delete(self, key: str) -> None:
        """Remove the object under ``key`` (nothing there: a no-op)."""
        try:
            self._fs.rm_file(self._path(key))
        except FileNotFoundError:
            return


def _protocols(fs: AbstractFileSystem) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _is_partial(path: str) -> bool:
    name = path.rpartition("/")[2]
    return name.startswith(".") and name.endswith(".partial")
