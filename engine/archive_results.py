"""The stored results of a run being archived: copied beside its export, checked, and removed
from their stores once the run is archived.

Copies go to ``DIR/<run_id>.results/<sha256>``: named by content, so the export's events
(which record each result's sha256) say which file holds which result, and a copy verifies
by its name. Each copy is written under a temporary name, synced, hashed again as read back
from the disk, and only then given its name. The database's copies of a run's results go
with its rows when it is archived; objects in result stores are removed only afterwards
(nothing is removed for a run that stays), and never one another run's events still refer
to (a result it took through the cache).
"""

import hashlib
import io
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..replay.archive import file_sha256
from ..replay.result_check import stored_refs
from ..results.refs import ResultRef, public_url
from ..storage import Storage
from ..storage.result_inventory import SqlResultInventory
from .result_storage import ResultPlacement

_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class RunResults:
    """What became of an archived run's stored results: ``refs``, every stored result its
    events refer to; ``copied`` into the archive; ``removed`` from their stores (store, key),
    and those ``left`` in place (store, key) with why."""

    refs: tuple[ResultRef, ...]
    copied: tuple[ResultRef, ...] = ()
    removed: tuple[tuple[str, str], ...] = ()
    left: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @property
    def in_stores(self) -> tuple[ResultRef, ...]:
        """The references to objects in result stores (not in the database)."""
        return tuple(ref for ref in self.refs if not ref.is_in_database)


def run_refs(storage: Storage, run_id: str, head_seq: int) -> tuple[ResultRef, ...]:
    """Every stored result the run's events up to ``head_seq`` refer to, once each."""
    return tuple(ref for _, ref in stored_refs(storage.log.read(run_id, upto_seq=head_seq)))


class ResultCopier:
    """Copies a run's stored results into the archive, reading them where they are stored."""

    def __init__(self, storage: Storage, placement: ResultPlacement) -> None:
        self._storage = storage
        self._placement = placement

    def copy(self, refs: tuple[ResultRef, ...], target: Path) -> str | None:
        """Copy each result into ``target``, checked; None once all are there, else why not
        (the copies made are then removed)."""
        if not refs:
            return None
        target.mkdir(parents=True, exist_ok=True)
        for ref in refs:
            try:
                why = self._copy_one(ref, target)
            except Exception as exc:  # a store away, a missing object, a full disk...
                why = f"{type(exc).__name__}: {exc}"
            if why is not None:
                shutil.rmtree(target, ignore_errors=True)
                return f"its result {ref.key!r} in {ref.store} could not be copied ({why})"
        sync_directory(target)
        return None

    def _copy_one(self, ref: ResultRef, target: Path) -> str | None:
        if _SHA256.fullmatch(ref.sha256) is None:
            return f"its recorded sha256 {ref.sha256!r} is not one"
        final = target / ref.sha256
        if final.exists() and file_sha256(final) == ref.sha256:
            return None  # the same bytes, copied for another reference
        partial = target / f".{ref.sha256}.partial"
        digest, size = hashlib.sha256(), 0
        with self._source(ref) as source, partial.open("wb") as out:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        found = digest.hexdigest()
        if (size, found) != (ref.size, ref.sha256):
            partial.unlink()
            recorded = f"the recorded {ref.size} and {ref.sha256}"
            return f"the store holds {size} bytes with sha256 {found}, not {recorded}"
        if file_sha256(partial) != ref.sha256:
            partial.unlink()
            return "the copy read back from the disk does not verify"
        partial.rename(final)
        return None

    @contextmanager
    def _source(self, ref: ResultRef) -> Iterator[BinaryIO]:
        if ref.is_in_database:
            yield io.BytesIO(self._storage.results.read(ref.key).data)
            return
        with self._placement.open(ref.store).reader(ref.key) as stream:
            yield stream

    def remove_objects(self, run_id: str, refs: tuple[ResultRef, ...]) -> RunResults:
        """Once the run is archived: remove every object under its keys (``RUN/...``) in the
        stores its events name and the engine's, but those other runs' events refer to."""
        inventory = SqlResultInventory(self._storage.sql_engine("archiving results"))
        still_referenced = inventory.references_into(run_id)
        stores = {ref.store: ref.store for ref in refs if not ref.is_in_database}
        if self._placement.url is not None:
            stores.setdefault(public_url(self._placement.url), self._placement.url)
        removed: list[tuple[str, str]] = []
        left: dict[tuple[str, str], str] = {}
        for public, url in sorted(stores.items()):
            try:
                store = self._placement.open(url)
                keys = [stored.key for stored in store.objects(run_id)]
            except Exception as exc:  # fsspec backends raise anything
                left.update(dict.fromkeys(_keys_in(refs, public), f"cannot list the store: {exc}"))
                continue
            for key in keys:
                if (public, key) in still_referenced:
                    left[(public, key)] = "another run refers to it"
                    continue
                try:
                    store.delete(key)
                except Exception as exc:  # fsspec backends raise anything
                    left[(public, key)] = f"cannot remove it: {exc}"
                    continue
                removed.append((public, key))
        return RunResults(refs, refs, tuple(removed), left)


def left_in_place(refs: tuple[ResultRef, ...]) -> RunResults:
    """A run archived without its results: every object stays in its store."""
    reason = "archived without --with-results"
    return RunResults(refs, left={(ref.store, ref.key): reason for ref in refs if not ref.is_in_database})


def _keys_in(refs: tuple[ResultRef, ...], store: str) -> list[tuple[str, str]]:
    return [(ref.store, ref.key) for ref in refs if ref.store == store]


def sync_directory(path: Path) -> None:
    """Flush a directory's entries to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
