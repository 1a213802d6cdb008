"""Storage: the ports (``storage.protocols``) of the hash-chained event log, the result store
and the rest, and their backends: SQL on SQLite or PostgreSQL, and in memory (``memory://``)."""

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa

from ..engine.core.run_terms import DEFAULT_QUEUE
from .archive import ArchiveCandidate, ArchiveRefused, SqlArchive, Tombstone
from .cancel_requests import SqlCancelRequests
from .claim_notices import ClaimListener, can_listen
from .codec import GENESIS_HASH, canonical_payload
from .database import create_db_engine, masked_url, retry_unavailable
from .errors import (
    AppendConflict,
    ConnectionFailed,
    CorruptEvent,
    DatabaseNotFound,
    DatabaseRequired,
    InvalidAppend,
    InvalidDatabaseURL,
    PayloadNotJSON,
    ResultNotFound,
    ResultNotSerializable,
    ResultRefused,
    RunNotFound,
    ScheduleExists,
    ScheduleNotFound,
    SchemaMissing,
    StorageError,
    StorageUnavailable,
)
from .figures import PortFigures, SqlFigures, StoreFigures, TagSlots
from .lease_terms import awaits_a_claim
from .limits import SqlLimits
from .memory import (
    MemoryCancelRequests,
    MemoryEventLog,
    MemoryLimits,
    MemoryResultStore,
    MemorySchedules,
    MemoryTaskLogs,
    MemoryWorkers,
    is_memory_url,
    open_tables,
)
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
    TaskLogs,
    TaskLogSink,
    Workers,
)
from .read_model import rebuild_read_model
from .records import (
    CancelRequest,
    FireRecord,
    FlowUsage,
    RunAppend,
    ScheduleRecord,
    TagUsage,
    TaskLogLine,
    WaitingTask,
    WorkerRecord,
)
from .results import SqlResultStore
from .run_changes import AppendListener, run_heads_since
from .run_slots import (
    FLOW_LIMIT_PREFIX,
    check_priority,
    check_queues,
    effective_limit,
    holds_a_slot,
    limited_flow,
)
from .schedules import SqlSchedules
from .serialization import load_result_key
from .sql_log import SqlEventLog
from .task_logs import SqlTaskLogStore
from .workers import WorkerRegistry

__all__ = [
    "DEFAULT_QUEUE",
    "FLOW_LIMIT_PREFIX",
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
    "ClaimListener",
    "ConcurrencyLimits",
    "ConnectionFailed",
    "CorruptEvent",
    "DatabaseNotFound",
    "DatabaseRequired",
    "EventLog",
    "EventRow",
    "FireRecord",
    "FlowUsage",
    "InvalidAppend",
    "InvalidDatabaseURL",
    "LeasedLog",
    "Leases",
    "PayloadNotJSON",
    "PortFigures",
    "ResultNotFound",
    "ResultNotSerializable",
    "ResultRefused",
    "ResultStore",
    "RunAppend",
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
    "SqlFigures",
    "SqlLimits",
    "SqlResultStore",
    "SqlSchedules",
    "SqlTaskLogStore",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "StoreFigures",
    "StoredBytes",
    "StoredResult",
    "StoredRun",
    "TagSlots",
    "TagUsage",
    "TaskLogLine",
    "TaskLogSink",
    "TaskLogs",
    "Tombstone",
    "WaitingTask",
    "WorkerRecord",
    "WorkerRegistry",
    "Workers",
    "awaits_a_claim",
    "can_listen",
    "canonical_payload",
    "check_priority",
    "check_queues",
    "create_db_engine",
    "effective_limit",
    "ensure_schema",
    "holds_a_slot",
    "limited_flow",
    "load_result_key",
    "open_storage",
    "rebuild_read_model",
    "retry_unavailable",
    "run_heads_since",
    "upgrade",
]


@dataclass(frozen=True, slots=True)
class Storage:
    """An open store: its ports, typed by their contracts (``storage.protocols``), not by the
    backend that implements them. Close it when done.

    ``database`` is the SQL database behind the ports, or None for in-memory storage
    (``memory://``); what works only on a database asks for it with ``sql_engine``."""

    log: LeasedLog
    results: ResultStore
    cancel_requests: CancelRequests
    limits: ConcurrencyLimits
    schedules: Schedules
    task_logs: TaskLogs  # captured task output; not hash-chained
    workers: Workers
    url: str  # password masked
    database: sa.Engine | None

    def sql_engine(self, feature: str) -> sa.Engine:
        """The SQL database's engine, for ``feature``; raises ``DatabaseRequired`` naming it
        on in-memory storage."""
        if self.database is None:
            raise DatabaseRequired(feature, self.url)
        return self.database

    def figures(self) -> StoreFigures:
        """The figures of the whole store a metrics scrape reads (see ``storage.figures``)."""
        if self.database is None:
            return PortFigures(self.log, self.limits, self.workers)
        return SqlFigures(self.database)

    def close(self) -> None:
        """Release the database's connections (in-memory storage keeps its data)."""
        if self.database is not None:
            self.database.dispose()

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

    ``memory://`` opens a fresh in-memory store, ``memory://NAME`` the one of that name in this
    process (see ``storage.memory``). With ``create_schema=False`` a database without the
    schema is not touched: it raises ``SchemaMissing`` (for commands that only read what was
    recorded)."""
    if database_url is not None and is_memory_url(database_url):
        return _memory_storage(database_url, load_result_key(home))
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
    return Storage(
        SqlEventLog(engine), SqlResultStore(engine, key), SqlCancelRequests(engine),
        SqlLimits(engine), SqlSchedules(engine), SqlTaskLogStore(engine), WorkerRegistry(engine),
        masked_url(engine), engine,
    )  # fmt: skip


def _memory_storage(url: str, key: bytes) -> Storage:
    tables = open_tables(url)
    return Storage(
        MemoryEventLog(tables), MemoryResultStore(tables, key), MemoryCancelRequests(tables),
        MemoryLimits(tables), MemorySchedules(tables), MemoryTaskLogs(tables), MemoryWorkers(tables),
        url, None,
    )  # fmt: skip
