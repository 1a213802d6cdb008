"""Garbage collection of stored results: the objects and rows that no event refers to.

An orphan is a stored result no event of any run refers to (``task.succeeded`` and
``task.cached`` result payloads; cache entries are read too): the bytes an attempt wrote
before its driver died, ahead of the ``task.succeeded`` that would have referred to them (a
resume gives the task a new attempt, under a new key), or a write that never completed. The
stores looked at: the engine's result storage, every store URL an event records, the URLs
the caller names, and the database's results table. Stores are opened with the engine's
options (credentials never come from the log).

Kept, and counted: referenced results; results written less than ``older_than`` ago; objects
whose filesystem gives no time; objects whose key names no run of this database (another
deployment's objects in a shared store, files that are not ledgerflow's); objects of archived
runs (their archive files refer to them; ``archive --with-results`` copies and removes them).

Concurrency: an attempt writes its result, then its driver appends the event that refers to
it. The references are read, the stores listed, and the references read again, so only an
object written before the listing and referred to after the second reading could look
unreferenced; the age threshold keeps it, as long as no attempt takes longer than
``older_than`` (default a day) from writing its result to the append (seconds, normally), clock
differences between the store and this machine included. ``older_than=0`` is for a database
no driver is writing to.
"""

import logging
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..results.listing import StoredObject
from ..results.refs import DATABASE, public_url
from ..storage import Storage
from ..storage.result_inventory import KnownRuns, SqlResultInventory
from .result_storage import ResultPlacement

logger = logging.getLogger(__name__)

COLLECTING = "collecting unreferenced results"
"""What needs a database (raises ``DatabaseRequired`` on in-memory storage)."""
DEFAULT_AGE = timedelta(days=1)
"""Results younger than this are never taken (attempts in flight write them)."""

REFERENCED, RECENT, UNDATED, FOREIGN, ARCHIVED, ORPHAN = (
    "referenced", "recent", "undated", "foreign", "archived", "orphan",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Orphan:
    """A stored result nothing refers to: its ``store`` (``"database"`` or a URL), ``key``,
    ``size`` in bytes, when it was written and its ``age`` when the stores were scanned."""

    store: str
    key: str
    size: int
    modified_at: datetime
    age: timedelta


@dataclass(frozen=True, slots=True)
class StoreScan:
    """What one store holds, by kind: ``counts`` by ``referenced``, ``recent`` (younger than
    the threshold), ``undated``, ``foreign`` (of no run of this database), ``archived`` and
    ``orphan``; ``error``: why it could not be listed."""

    store: str
    counts: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def listed(self) -> int:
        """How many objects (rows) the store holds."""
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class ResultGcReport:
    """The orphans found (and, if executed, removed), store by store."""

    scanned_at: datetime
    older_than: timedelta
    is_executed: bool
    stores: tuple[StoreScan, ...]
    orphans: tuple[Orphan, ...]
    removed: tuple[Orphan, ...] = ()
    failures: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @property
    def orphan_bytes(self) -> int:
        """The orphans' total size."""
        return sum(orphan.size for orphan in self.orphans)

    @property
    def ok(self) -> bool:
        """Every store was listed and every removal asked for was done."""
        return not self.failures and all(scan.error is None for scan in self.stores)


def collect_orphans(
    storage: Storage, placement: ResultPlacement, older_than: timedelta = DEFAULT_AGE, *,
    execute: bool = False, stores: Collection[str] = (), now: datetime | None = None,
) -> ResultGcReport:  # fmt: skip
    """Find the results no event refers to, older than ``older_than``, in the engine's store,
    every store the events name, ``stores`` and the database; with ``execute``, remove them.
    Raises ``DatabaseRequired`` on in-memory storage, ``ValueError`` for a negative age."""
    if older_than < timedelta(0):
        raise ValueError(f"older_than must not be negative, not {older_than}")
    inventory = SqlResultInventory(storage.sql_engine(COLLECTING))
    scanned_at = now or datetime.now(UTC)
    references = inventory.references()
    openers = _openers(placement, stores, references)
    listed = {url: _listing(placement, opener) for url, opener in openers.items()}
    rows = [StoredObject(r.ref, r.size, r.created_at) for r in inventory.result_rows()]
    references |= inventory.references()  # appended while the stores were listed
    known = inventory.known_runs()
    kinds = _Classifier(references, known, scanned_at - older_than)
    scans, orphans = [], []
    for url, found in [*listed.items(), (DATABASE, rows)]:
        if isinstance(found, str):
            scans.append(StoreScan(url, error=found))
            continue
        counts: Counter[str] = Counter()
        for stored in found:
            kind = kinds.of(url, stored)
            counts[kind] += 1
            if kind == ORPHAN:
                assert stored.modified_at is not None
                age = scanned_at - stored.modified_at
                orphans.append(Orphan(url, stored.key, stored.size, stored.modified_at, age))
        scans.append(StoreScan(url, dict(counts)))
    report = ResultGcReport(scanned_at, older_than, execute, tuple(scans), tuple(orphans))
    return _removed(report, inventory, placement, openers) if execute else report


def _openers(
    placement: ResultPlacement, stores: Collection[str], references: Iterable[tuple[str, str]]
) -> dict[str, str]:
    """The object stores to scan, by public URL, with the URL each is opened by (a configured
    URL keeps what it holds beyond the public one)."""
    openers = {store: store for store, _ in references if store != DATABASE}
    for url in (*stores, placement.url):
        if url is not None and url != DATABASE:
            openers[public_url(url)] = url
    return dict(sorted(openers.items()))


def _listing(placement: ResultPlacement, url: str) -> list[StoredObject] | str:
    """The store's objects, or why they could not be listed."""
    try:
        return placement.open(url).objects()
    except Exception as exc:  # fsspec backends raise anything (OSError, botocore errors...)
        logger.warning("cannot list the result store %s: %s", public_url(url), exc)
        return f"cannot list it: {type(exc).__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class _Classifier:
    references: set[tuple[str, str]]
    known: KnownRuns
    cutoff: datetime

    def of(self, store: str, stored: StoredObject) -> str:
        """What kind of result ``stored`` of ``store`` is (``ORPHAN`` or why it stays)."""
        run_id = stored.key.partition("/")[0]
        if not stored.is_partial and (store, stored.key) in self.references:
            return REFERENCED
        if run_id in self.known.archived:
            return ARCHIVED
        if run_id not in self.known.held:
            return FOREIGN
        if stored.modified_at is None:
            return UNDATED
        return ORPHAN if stored.modified_at <= self.cutoff else RECENT


def _removed(
    report: ResultGcReport, inventory: SqlResultInventory, placement: ResultPlacement,
    openers: Mapping[str, str],
) -> ResultGcReport:  # fmt: skip
    """The report once its orphans are removed (each removal that failed, with why)."""
    removed: list[Orphan] = []
    failures: dict[tuple[str, str], str] = {}
    in_database = [orphan for orphan in report.orphans if orphan.store == DATABASE]
    if in_database:
        inventory.delete_rows([orphan.key for orphan in in_database])
        removed += in_database
    for orphan in report.orphans:
        if orphan.store == DATABASE:
            continue
        try:
            placement.open(openers[orphan.store]).delete(orphan.key)
        except Exception as exc:  # fsspec backends raise anything
            failures[(orphan.store, orphan.key)] = f"{type(exc).__name__}: {exc}"
            continue
        removed.append(orphan)
        logger.info("removed unreferenced result %s from %s", orphan.key, orphan.store)
    return ResultGcReport(
        report.scanned_at, report.older_than, True, report.stores, report.orphans, tuple(removed), failures
    )
