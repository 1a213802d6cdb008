"""What the database says of stored results, for their lifecycle (garbage collection, archive).

Which results are referenced: every event whose payload's ``result`` names a stored result
(``task.succeeded``, ``task.cached``), and every cache entry (a read model of those events,
read too so that a result a valid entry serves can never look unreferenced). Which runs the
database knows (in ``runs`` or ``events``) and which it archived. The rows of the results
table with their sizes, and deleting the rows nothing refers to.
"""

import logging
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from ..results.refs import ResultRef
from . import schema
from .database import READ_ONLY, retry_unavailable, translated_errors

logger = logging.getLogger(__name__)

_EV = schema.events
_RESULTS = schema.results
_REF_FIELD = '"ref":'
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ResultRow:
    """A row of the results table: its ``ref`` (the key a reference names), run, size and
    when it was written."""

    ref: str
    run_id: str
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class KnownRuns:
    """The runs a database knows: those it holds (``runs`` or ``events``) and those it archived."""

    held: frozenset[str]
    archived: frozenset[str]


def referenced(payload: Any) -> ResultRef | None:
    """The stored result an event (or cache entry) payload's ``result`` names, or None."""
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, dict) or not isinstance(result.get("ref"), str):
        return None
    try:
        return ResultRef.from_payload(result)
    except KeyError:  # a malformed reference: it still names its key
        return ResultRef(str(result.get("store", "database")), result["ref"], "", 0, "")


def _parsed(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # a tampered row: verification reports it, here it names nothing
        return None


class SqlResultInventory:
    """The references and result rows of a SQLAlchemy engine's database (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def _read(self) -> sa.Connection:
        return self._engine.connect().execution_options(**{READ_ONLY: True})

    @retry_unavailable
    def references(self) -> set[tuple[str, str]]:
        """(store, key) of every stored result an event or a cache entry refers to."""
        found: set[tuple[str, str]] = set()
        with translated_errors(self._engine), self._read() as connection:
            for ref in self._scan(
                connection, sa.select(_EV.c.payload).where(_EV.c.payload.contains(_REF_FIELD))
            ):
                found.add((ref.store, ref.key))
            for ref in self._scan(connection, sa.select(schema.cache_entries.c.result), as_result=True):
                found.add((ref.store, ref.key))
        return found

    @staticmethod
    def _scan(
        connection: sa.Connection, query: sa.Select[Any], as_result: bool = False
    ) -> Iterator[ResultRef]:
        """The references of the payloads ``query`` returns, streamed (a server-side cursor on
        PostgreSQL); ``as_result``: each text is a result payload itself."""
        rows = connection.execution_options(stream_results=True, yield_per=5_000).execute(query)
        for (text,) in rows:
            payload = _parsed(text)
            ref = referenced({"result": payload} if as_result else payload)
            if ref is not None:
                yield ref

    @retry_unavailable
    def references_into(self, run_id: str) -> set[tuple[str, str]]:
        """(store, key) of the results under ``run_id``'s keys that events still refer to
        (after the run's own events were deleted: what other runs took from it)."""
        marker = _REF_FIELD + orjson.dumps(run_id).decode()[:-1] + "/"
        query = sa.select(_EV.c.payload).where(_EV.c.payload.contains(marker, autoescape=True))
        with translated_errors(self._engine), self._read() as connection:
            return {(ref.store, ref.key) for ref in self._scan(connection, query) if ref.run_id == run_id}

    @retry_unavailable
    def known_runs(self) -> KnownRuns:
        """The run ids the database holds and those it archived."""
        held = sa.union(sa.select(schema.runs.c.run_id), sa.select(_EV.c.run_id).distinct())
        with translated_errors(self._engine), self._read() as connection:
            runs = frozenset(str(run_id) for run_id in connection.execute(held).scalars())
            archived = connection.execute(sa.select(schema.archived_runs.c.run_id)).scalars()
            return KnownRuns(runs, frozenset(str(run_id) for run_id in archived))

    @retry_unavailable
    def result_rows(self) -> list[ResultRow]:
        """Every row of the results table (without its data), by ref."""
        query = sa.select(
            _RESULTS.c.ref, _RESULTS.c.run_id, sa.func.length(_RESULTS.c.data), _RESULTS.c.created_at
        ).order_by(_RESULTS.c.ref)
        with translated_errors(self._engine), self._read() as connection:
            return [
                ResultRow(ref, run_id, int(size or 0), at)
                for ref, run_id, size, at in connection.execute(query)
            ]

    @retry_unavailable
    def delete_rows(self, refs: Collection[str]) -> int:
        """Delete the results rows of ``refs``; returns how many went."""
        ordered = sorted(refs)
        deleted = 0
        with translated_errors(self._engine), self._engine.begin() as connection:
            for start in range(0, len(ordered), _CHUNK):
                chunk = ordered[start : start + _CHUNK]
                deleted += connection.execute(_RESULTS.delete().where(_RESULTS.c.ref.in_(chunk))).rowcount
        logger.info("deleted %d unreferenced results from the database", deleted)
        return deleted
