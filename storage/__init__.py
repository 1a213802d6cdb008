"""Storage: the hash-chained event log, the result store, and their database."""

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa

from .archive import ArchiveCandidate, ArchiveRefused, SqlArchive, Tombstone
from .cancel_requests import CancelRequest, SqlCancelRequests
from .codec import GENESIS_HASH, canonical_payload
from .database import create_db_engine, masked_url, retry_unavailable
from .errors import (
    AppendConflict,
    ConnectionFailed,
    CorruptEvent,
    DatabaseNotFound,
    InvalidAppend,
    InvalidDatabaseURL,
    PayloadNotJSON,
    ResultNotFound,
    ResultNotSerializable,
    ResultRefused,
    RunNotFound,
    SchemaMissing,
    StorageError,
    StorageUnavailable,
)
from .limits import SqlLimits
from .migrate import ensure_schema, require_schema, upgrade
from .protocols import (
    CacheEntry,
    CacheIndex,
    CancelRequests,
    CancelSource,
    ConcurrencyLimits,
    EventLog,
    EventRow,
    LeasedLog,
    Leases,
    ResultStore,
    RunSummary,
    Schedules,
    StoredBytes,
    StoredResult,
    StoredRun,
    TagUsage,
    TaskLogs,
    TaskLogSink,
    WaitingTask,
    Workers,
)
from .read_model import rebuild_read_model
from .results import SqlResultStore
from .run_changes import AppendListener, run_heads_since
from .schedules import FireRecord, ScheduleExists, ScheduleNotFound, ScheduleRecord, SqlSchedules
from .serialization import load_result_key
from .sql_log import SqlEventLog
from .task_logs import SqlTaskLogStore, TaskLogLine
from .workers import WorkerRecord, WorkerRegistry

__all__ = [
    "GENESIS_HASH",
    "AppendConflict",
    "AppendListener",
    "ArchiveCandidate",
    "ArchiveRefused",
    "CacheEntry",
    "CacheIndex",
    "CancelRequest",
    "CancelRequests",
    "CancelSource",
    "ConcurrencyLimits",
    "ConnectionFailed",
    "CorruptEvent",
    "DatabaseNotFound",
    "EventLog",
    "EventRow",
    "FireRecord",
    "InvalidAppend",
    "InvalidDatabaseURL",
    "LeasedLog",
    "Leases",
    "PayloadNotJSON",
    "ResultNotFound",
    "ResultNotSerializable",
    "ResultRefused",
    "ResultStore",
    "RunNotFound",
    "RunSummary",
    "ScheduleExists",
    "ScheduleNotFound",
    "ScheduleRecord",
    "Schedules",
    "SchemaMissing",
    "SqlArchive",
    "SqlCancelRequests",
    "SqlEventLog",
    "SqlLimits",
    "SqlResultStore",
    "SqlSchedules",
    "SqlTaskLogStore",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "StoredBytes",
    "StoredResult",
    "StoredRun",
    "TagUsage",
    "TaskLogLine",
    "TaskLogSink",
    "TaskLogs",
    "Tombstone",
    "WaitingTask",
    "WorkerRecord",
    "WorkerRegistry",
    "Workers",
    "canonical_payload",
    "create_db_engine",
    "ensure_schema",
    "load_result_key",
    "open_storage",
    "rebuild_read_model",
    "retry_unavailable",
    "run_heads_since",
    "upgrade",
]


@dataclass(frozen=True, slots=True)
class Storage:
    """An open database: its engine, event log and result store. Close it when done.

    The stores are typed by their contracts (``storage.protocols``), not by the SQL classes
    that implement them."""

    engine: sa.Engine
    log: LeasedLog
    results: ResultStore
    url: str  # password masked

    @property
    def cancel_requests(self) -> CancelRequests:
        """Requests to cancel runs, in this database (see ``storage.cancel_requests``)."""
        return SqlCancelRequests(self.engine)

    @property
    def limits(self) -> ConcurrencyLimits:
        """Concurrency limits by tag and their slots, in this database."""
        return SqlLimits(self.engine)

    @property
    def schedules(self) -> Schedules:
        """Schedules and their claimed fire times, in this database."""
        return SqlSchedules(self.engine)

    @property
    def task_logs(self) -> TaskLogs:
        """Captured task output (prints, log records) in this database; not hash-chained."""
        return SqlTaskLogStore(self.engine)

    @property
    def workers(self) -> Workers:
        """The registry of worker processes, in this database."""
        return WorkerRegistry(self.engine)

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()

    def __enter__(self) -> "Storage":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_storage(database_url: str | None, home: Path, *, create_schema: bool = True) -> Storage:
    """Open (and create or upgrade the schema of) the database; None is SQLite in ``home``.

    With ``create_schema=False`` a database without the schema is not touched: it raises
    ``SchemaMissing`` (for commands that only read what was recorded)."""
    engine = create_db_engine(database_url, home)
    try:
        if create_schema:
            ensure_schema(engine)
        else:
            require_schema(engine)
        key = load_result_key(home)
    except BaseException:
        engine.dispose()
        raise
    return Storage(engine, SqlEventLog(engine), SqlResultStore(engine, key), masked_url(engine))
