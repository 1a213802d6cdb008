"""The result store: encoded task results in the ``results`` table, pickles HMAC-signed."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from . import schema
from .database import READ_ONLY, retry_unavailable, translated_errors
from .errors import ResultNotFound, StorageError
from .protocols import StoredBytes, StoredResult
from .serialization import SignedResults, signature_for

_RESULTS = schema.results


class SqlResultStore(SignedResults):
    """A ``ResultStore`` on a SQLAlchemy engine; ``key`` signs and checks pickles."""

    def __init__(self, engine: sa.Engine, key: bytes) -> None:
        if not key:
            raise ValueError("the result signing key must not be empty")
        self._engine = engine
        self._key = key

    def _rows(self, results: Sequence[StoredResult]) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        return [
            {
                "ref": result.ref,
                "run_id": result.run_id,
                "task_key": result.task_key,
                "format": result.format,
                "data": result.data,
                "signature": signature_for(self._key, result),
                "created_at": now,
            }
            for result in results
        ]

    @retry_unavailable
    def put_many(self, results: Sequence[StoredResult]) -> None:
        """Store results in one transaction; putting the same ref and data again is a no-op."""
        rows = self._rows(results)
        if not rows:
            return
        try:
            with translated_errors(self._engine), self._engine.begin() as connection:
                connection.execute(_RESULTS.insert(), rows)
        except StorageError as exc:
            if not isinstance(exc.__cause__, sa_exc.IntegrityError):
                raise
            self._put_missing(rows)  # a retried put, or the same result stored twice

    def _put_missing(self, rows: list[dict[str, Any]]) -> None:
        refs = [row["ref"] for row in rows]
        query = sa.select(_RESULTS.c.ref, _RESULTS.c.data).where(_RESULTS.c.ref.in_(refs))
        with translated_errors(self._engine), self._engine.begin() as connection:
            stored = {ref: bytes(data) for ref, data in connection.execute(query)}
            for row in rows:
                if row["ref"] in stored and stored[row["ref"]] != row["data"]:
                    raise StorageError(
                        f"result {row['ref']!r} (run {row['run_id']}, task {row['task_key']}) "
                        "is already stored with different data; result refs must be unique"
                    )
            missing = [row for row in rows if row["ref"] not in stored]
            if missing:
                connection.execute(_RESULTS.insert(), missing)

    @retry_unavailable
    def read(self, ref: str) -> StoredBytes:
        """A result's bytes as stored, with their signature; raises ``ResultNotFound``."""
        query = sa.select(_RESULTS.c.data, _RESULTS.c.signature).where(_RESULTS.c.ref == ref)
        with (
            translated_errors(self._engine),
            self._engine.connect().execution_options(**{READ_ONLY: True}) as connection,
        ):
            row = connection.execute(query).first()
        if row is None:
            raise ResultNotFound(ref)
        return StoredBytes(bytes(row.data), row.signature)
