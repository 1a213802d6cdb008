"""In-memory storage (``memory://``): every storage port in this process's memory, with the
semantics of the SQL stores, for unit tests of flows. Nothing survives the process."""

from .cancel_requests import MemoryCancelRequests
from .limits import MemoryLimits
from .log import MemoryEventLog
from .results import MemoryResultStore
from .schedules import MemorySchedules
from .tables import MemoryTables, is_memory_url, open_tables
from .task_logs import MemoryTaskLogs
from .workers import MemoryWorkers

__all__ = [
    "MemoryCancelRequests",
    "MemoryEventLog",
    "MemoryLimits",
    "MemoryResultStore",
    "MemorySchedules",
    "MemoryTables",
    "MemoryTaskLogs",
    "MemoryWorkers",
    "is_memory_url",
    "open_tables",
]
