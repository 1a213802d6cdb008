"""The result store in memory: encoded results, pickles signed and checked with the key the
SQL store uses (``storage.serialization``)."""

from collections.abc import Sequence

from ..errors import ResultNotFound, StorageError
from ..protocols import StoredBytes, StoredResult
from ..serialization import SignedResults, signature_for
from .tables import MemoryTables, StoredResultRow


class MemoryResultStore(SignedResults):
    """A ``ResultStore`` in memory; ``key`` signs and checks pickles."""

    def __init__(self, tables: MemoryTables, key: bytes) -> None:
        if not key:
            raise ValueError("the result signing key must not be empty")
        self._tables = tables
        self._key = key

    def put_many(self, results: Sequence[StoredResult]) -> None:
        """Store results all at once; putting the same ref and data again is a no-op."""
        rows = {
            result.ref: StoredResultRow(
                result.run_id,
                result.task_key,
                result.format,
                bytes(result.data),
                signature_for(self._key, result),
            )
            for result in results
        }
        with self._tables.lock:
            stored = self._tables.results
            for ref, row in rows.items():
                if ref in stored and stored[ref].data != row.data:
                    raise StorageError(
                        f"result {ref!r} (run {row.run_id}, task {row.task_key}) "
                        "is already stored with different data; result refs must be unique"
                    )
            for ref, row in rows.items():
                stored.setdefault(ref, row)

    def read(self, ref: str) -> StoredBytes:
        """A result's bytes as stored, with their signature; raises ``ResultNotFound``."""
        with self._tables.lock:
            row = self._tables.results.get(ref)
        if row is None:
            raise ResultNotFound(ref)
        return StoredBytes(row.data, row.signature)
