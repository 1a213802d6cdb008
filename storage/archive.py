"""Retention in the database: finished runs to archive, and their replacement by a tombstone.

A tombstone (``archived_runs``) keeps what verifies the archive file later: the run's
head (seq, hash) and the file's name and sha256. Replacing a run by its tombstone
deletes, in one transaction, its events, results, task logs, cache entries (their
results go with the run: later runs recompute instead of hitting a missing result),
leftover concurrency slots and its runs row. A run stays if it changed since it was
exported, or while a run still in the database took results from it through the cache
(its ``task.cached`` events point at them); once that run is archived, it can go too.
"""

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from ..engine.core.events import EventType
from . import schema
from .database import READ_ONLY, retry_unavailable, translated_errors
from .errors import StorageError
from .protocols import RunSummary

logger = logging.getLogger(__name__)

FINISHED_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")
"""Run states an archive takes: nothing will append to these runs (short of a restart)."""

_RUNS = schema.runs
_EV = schema.events
_TOMBSTONES = schema.archived_runs
_SOURCE_RUN = '"source_run":'
_RUN_TABLES = (
    schema.results, schema.task_logs, schema.cache_entries,
    schema.concurrency_slots, schema.concurrency_waiting, schema.cancel_requests,
)  # fmt: skip


class ArchiveRefused(StorageError):
    """The database refuses the deletes an archive needs (events hardened append-only)."""


@dataclass(frozen=True, slots=True)
class Tombstone:
    """What remains of an archived run: its identity, head, and the export file's name and hash."""

    run_id: str
    flow: str
    state: str
    head_seq: int
    head_hash: str
    created_at: datetime
    updated_at: datetime
    file_name: str
    file_sha256: str
    archived_at: datetime

    @property
    def id(self) -> str:
        """The run id, as ``Run.id`` names it (``run_id`` is the same value)."""
        return self.run_id


@dataclass(frozen=True, slots=True)
class ArchiveCandidate:
    """A finished run old enough to archive, and about how many bytes it holds in the database
    (event payloads, results and task logs)."""

    run: RunSummary
    size: int


class SqlArchive:
    """Archive candidates and tombstones on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def _read(self) -> sa.Connection:
        return self._engine.connect().execution_options(**{READ_ONLY: True})

    @retry_unavailable
    def candidates(self, updated_before: datetime, limit: int | None = None) -> list[ArchiveCandidate]:
        """Finished runs last updated before ``updated_before``, newest first, with their sizes."""
        selected = sa.and_(_RUNS.c.state.in_(FINISHED_STATES), _RUNS.c.updated_at < updated_before)
        query = sa.select(_RUNS).where(selected).order_by(_RUNS.c.updated_at.desc(), _RUNS.c.run_id.desc())
        if limit is not None:
            query = query.limit(limit)
        with translated_errors(self._engine), self._read() as connection:
            runs = [RunSummary(**row._mapping) for row in connection.execute(query)]
            sizes = _sizes(connection, [run.run_id for run in runs])
        return [ArchiveCandidate(run, sizes.get(run.run_id, 0)) for run in runs]

    @retry_unavailable
    def cache_sources(self) -> dict[str, set[str]]:
        """For each run whose results other runs took through the cache: those runs."""
        query = sa.select(_EV.c.run_id, _EV.c.payload).where(
            _EV.c.type == EventType.TASK_CACHED.value, _EV.c.payload.contains(_SOURCE_RUN)
        )
        taken: dict[str, set[str]] = {}
        with translated_errors(self._engine), self._read() as connection:
            for run_id, payload in connection.execute(query):
                source = _source_run(payload)
                if source is not None and source != run_id:
                    taken.setdefault(source, set()).add(run_id)
        return taken

    @retry_unavailable
    def replace_with_tombstone(self, tombstone: Tombstone) -> str | None:
        """Insert the tombstone and delete the run's rows, in one transaction; or return why
        the run stays (it changed since its export, or a run took results from it)."""
        with translated_errors(self._engine), self._engine.begin() as connection:
            kept = _why_kept(connection, tombstone)
            if kept is not None:
                return kept
            connection.execute(_TOMBSTONES.insert().values(**_tombstone_row(tombstone)))
            run_id = tombstone.run_id
            connection.execute(_EV.delete().where(_EV.c.run_id == run_id))
            for table in _RUN_TABLES:
                connection.execute(table.delete().where(table.c.run_id == run_id))
            connection.execute(_RUNS.delete().where(_RUNS.c.run_id == run_id))
        logger.info("run %s: archived to %s", tombstone.run_id, tombstone.file_name)
        return None

    @retry_unavailable
    def tombstone(self, run_id: str) -> Tombstone | None:
        """The tombstone of an archived run, or None."""
        query = sa.select(_TOMBSTONES).where(_TOMBSTONES.c.run_id == run_id)
        with translated_errors(self._engine), self._read() as connection:
            row = connection.execute(query).first()
        return None if row is None else Tombstone(**row._mapping)

    @retry_unavailable
    def tombstones(
        self, limit: int | None = None, *, flow: str | None = None,
        states: Collection[str] | None = None, since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Tombstone]:  # fmt: skip
        """Tombstones, newest run first, filtered as ``SqlEventLog.runs`` filters runs."""
        table = _TOMBSTONES
        query = sa.select(table).order_by(table.c.created_at.desc(), table.c.run_id.desc())
        if flow is not None:
            query = query.where(table.c.flow == flow)
        if states is not None:
            query = query.where(table.c.state.in_(list(states)))
        if since is not None:
            query = query.where(table.c.created_at >= since)
        if until is not None:
            query = query.where(table.c.created_at < until)
        if limit is not None:
            query = query.limit(limit)
        with translated_errors(self._engine), self._read() as connection:
            return [Tombstone(**row._mapping) for row in connection.execute(query)]


def _sizes(connection: sa.Connection, run_ids: list[str]) -> dict[str, int]:
    """Bytes (about: text lengths) of each run's event payloads, results and task logs."""
    sizes: dict[str, int] = dict.fromkeys(run_ids, 0)
    measured = (
        (_EV.c.run_id, _EV.c.payload),
        (schema.results.c.run_id, schema.results.c.data),
        (schema.task_logs.c.run_id, schema.task_logs.c.message),
    )
    for start in range(0, len(run_ids), 500):
        chunk = run_ids[start : start + 500]
        for run_column, data_column in measured:
            query = (
                sa.select(run_column, sa.func.sum(sa.func.length(data_column)))
                .where(run_column.in_(chunk))
                .group_by(run_column)
            )
            for run_id, size in connection.execute(query):
                sizes[run_id] += int(size or 0)
    return sizes


def _why_kept(connection: sa.Connection, tombstone: Tombstone) -> str | None:
    """Why the run must stay (None: archive it); locks its runs row."""
    run_id = tombstone.run_id
    row = connection.execute(
        sa.select(_RUNS.c.state, _RUNS.c.head_seq, _RUNS.c.head_hash)
        .where(_RUNS.c.run_id == run_id)
        .with_for_update()
    ).first()
    if row is None:
        return "it is no longer in the database"
    if (row.state, row.head_seq, row.head_hash) != (tombstone.state, tombstone.head_seq, tombstone.head_hash):
        return f"it changed since its export (now {row.state} at seq {row.head_seq})"
    stored = connection.execute(
        sa.select(sa.func.count()).select_from(_EV).where(_EV.c.run_id == run_id)
    ).scalar_one()
    if stored != tombstone.head_seq:
        return f"it holds {stored} events but its head is seq {tombstone.head_seq} (verify it)"
    takers = _takers(connection, run_id)
    if takers:
        return f"runs {', '.join(sorted(takers))} took results from it through the cache"
    return None


def _takers(connection: sa.Connection, run_id: str) -> set[str]:
    """Runs still in the database whose task.cached events point at ``run_id``'s results."""
    marker = _SOURCE_RUN + orjson.dumps(run_id).decode()
    query = sa.select(_EV.c.run_id, _EV.c.payload).where(
        _EV.c.type == EventType.TASK_CACHED.value,
        _EV.c.run_id != run_id,
        _EV.c.payload.contains(marker, autoescape=True),
    )
    return {taker for taker, payload in connection.execute(query) if _source_run(payload) == run_id}


def _source_run(payload: str) -> str | None:
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    source = parsed.get("source_run") if isinstance(parsed, dict) else None
    return source if isinstance(source, str) else None


def _tombstone_row(tombstone: Tombstone) -> dict[str, Any]:
    return {name: getattr(tombstone, name) for name in Tombstone.__dataclass_fields__}
