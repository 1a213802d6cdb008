"""An object store on any fsspec filesystem (``file://``, ``memory://``, ``s3://``, ...).

Objects are written once: ``write`` never replaces different bytes under a key, so an event's
reference keeps meaning the object it was written with. An object is written from its chunks
in order (never joined), hashed while it is written, and named by that hash. The store's URL
as the log may show it carries no credentials; those go in ``storage_options``, handed to
fsspec.
"""

import hashlib
import logging
import mmap
import os
import queue
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import fsspec
from fsspec.spec import AbstractFileSystem

from .errors import ObjectConflict, ObjectNotFound
from .integrity import sha256_of_chunks
from .listing import StoredObject, modified_at
from .refs import public_url

logger = logging.getLogger(__name__)

_HASH_APART = 1 << 20  # bytes from which a local file is hashed by a second thread as it is written or read
_SLICE = 8 << 20  # bytes read at a time, each hashed while the next is read


@dataclass(frozen=True, slots=True)
class Fetched:
    """An object as read: its bytes and their sha256 (hex)."""

    data: bytes | memoryview  # a large local file's: writable, so arrays loaded from it share it
    sha256: str


@dataclass(frozen=True, slots=True)
class Written:
    """An object as written: its key, size and sha256 (hex)."""

    key: str
    size: int
    sha256: str


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
        self.write([memoryview(data)], lambda sha256: key)

    def write(self, chunks: Sequence[memoryview], key_of: Callable[[str], str]) -> Written:
        """Write ``chunks``, in order, as one object under the key ``key_of(its sha256)``, whose
        folder must not depend on the hash; the same bytes already there is a no-op, different
        bytes raise ``ObjectConflict``."""
        size = sum(chunk.nbytes for chunk in chunks)
        if self._is_local:
            written = self._write_local(chunks, key_of, size)
        else:  # object stores publish a write whole, once closed: hash first, for the key
            sha256 = sha256_of_chunks(chunks)
            written = Written(key_of(sha256), size, sha256)
            path = self._path(written.key)
            if not self._is_there(path, written):
                with self._fs.open(path, "wb") as out:
                    for chunk in chunks:
                        out.write(chunk)
        logger.debug("wrote %s (%d bytes) to %s", written.key, size, self.url)
        return written

    def _write_local(self, chunks: Sequence[memoryview], key_of: Callable[[str], str], size: int) -> Written:
        """A local file is visible while written: write it aside in its folder (known before
        the hash: ``key_of`` names the folder alone), then publish it by a rename."""
        folder, _, name = self._path(key_of("")).rpartition("/")
        partial = f"{folder}/.{name}{secrets.token_hex(4)}.partial"
        try:
            sha256 = self._write_file(partial, chunks, size)
            written = Written(key_of(sha256), size, sha256)
            path = self._path(written.key)
            if not self._is_there(path, written):
                os.replace(partial, path)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        return written

    @staticmethod
    def _write_file(path: str, chunks: Sequence[memoryview], size: int) -> str:
        """Write ``chunks`` to a new file while they are hashed (by a second thread, when large);
        their sha256."""
        with _new_file(path) as out:
            if size < _HASH_APART:
                for chunk in chunks:
                    out.write(chunk)
                return sha256_of_chunks(chunks)
            hashed: list[str] = []
            hasher = threading.Thread(
                target=lambda: hashed.append(sha256_of_chunks(chunks)), name="ledgerflow-sha256"
            )
            hasher.start()
            try:
                for chunk in chunks:
                    out.write(chunk)
            finally:
                hasher.join()
            return hashed[0]

    def _is_there(self, path: str, written: Written) -> bool:
        """Whether ``path`` already holds ``written``'s bytes; ``ObjectConflict`` if it holds others."""
        if not self._fs.exists(path):
            return False
        there = self.read(written.key)
        if len(there.data) != written.size or there.sha256 != written.sha256:
            raise ObjectConflict(self.url, written.key)
        return True

    def read(self, key: str) -> Fetched:
        """The bytes under ``key`` (a large local file's in a writable buffer, which arrays
        loaded from it share) and their sha256, hashed while they are read; raises
        ``ObjectNotFound``."""
        path = self._path(key)
        try:
            if self._is_local:
                return _read_file(path)
            data = bytes(self._fs.cat_file(path))
        except FileNotFoundError:
            raise ObjectNotFound(self.url, key) from None
        return Fetched(data, sha256_of_chunks([memoryview(data)]))

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
        """Remove the object under ``key`` (nothing there: a no-op); in a local store, the
        folders it leaves empty too."""
        path = self._path(key)
        try:
            self._fs.rm_file(path)
        except FileNotFoundError:
            return
        if self._is_local:
            _remove_empty_folders(path.rpartition("/")[0], self._root)


_FOLDER_RACES = 3  # times a new file's folder is made again, if removed meanwhile by a collection


def _new_file(path: str) -> BinaryIO:
    """A new file at ``path``, opened for writing, with the folders it needs (made again if a
    concurrent collection removed them as empty in between)."""
    for _ in range(_FOLDER_RACES):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            return open(path, "xb")
        except FileNotFoundError:
            continue
    return open(path, "xb")


def _remove_empty_folders(folder: str, root: str) -> None:
    """Remove ``folder`` and its parents below ``root`` while they are empty."""
    while folder.startswith(root + "/"):
        try:
            os.rmdir(folder)
        except OSError:  # not empty (or already gone)
            return
        folder = folder.rpartition("/")[0]


def _read_file(path: str) -> Fetched:
    """A local file's bytes, read into one new writable buffer (a large one: fresh memory
    mapped for it, not zeroed first) while a second thread hashes what is read."""
    with open(path, "rb", buffering=0) as source:
        size = os.fstat(source.fileno()).st_size
        if size < _HASH_APART:
            data = source.read()
            return Fetched(data, sha256_of_chunks([memoryview(data)]))
        view, filled = memoryview(mmap.mmap(-1, size)), 0
        digest = hashlib.sha256()
        read: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
        hasher = threading.Thread(target=_hash_all, args=(digest.update, read), name="ledgerflow-sha256")
        hasher.start()
        try:
            while filled < size and (count := source.readinto(view[filled : filled + _SLICE])):
                read.put(view[filled : filled + count])
                filled += count
        finally:
            read.put(None)
            hasher.join()
    return Fetched(view[:filled], digest.hexdigest())  # shorter if the file shrank meanwhile


def _hash_all(update: Callable[[memoryview], object], slices: "queue.SimpleQueue[memoryview | None]") -> None:
    while (piece := slices.get()) is not None:
        update(piece)


def _protocols(fs: AbstractFileSystem) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _is_partial(path: str) -> bool:
    name = path.rpartition("/")[2]
    return name.startswith(".") and name.endswith(".partial")
