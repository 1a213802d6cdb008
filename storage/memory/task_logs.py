"""Captured task output in memory; not hash-chained, like ``storage.task_logs``."""

from collections.abc import Sequence
from dataclasses import replace

from ..records import TaskLogLine, stored_message
from .tables import MemoryTables


class MemoryTaskLogs:
    """``TaskLogs`` in memory."""

    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    def put_logs(self, lines: Sequence[TaskLogLine]) -> None:
        """Store a batch of lines at once."""
        stored = [replace(line, message=stored_message(line.message)) for line in lines]
        with self._tables.lock:
            self._tables.task_logs.extend(stored)

    def read_logs(self, run_id: str, task_key: str | None = None) -> list[TaskLogLine]:
        """A run's lines (or one task's), ordered by task key, attempt and seq (then as stored)."""
        with self._tables.lock:
            lines = [
                line for line in self._tables.task_logs
                if line.run_id == run_id and (task_key is None or line.task_key == task_key)
            ]  # fmt: skip
        return sorted(lines, key=lambda line: (line.task_key, line.attempt, line.seq))
