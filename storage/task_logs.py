"""Captured task output in the ``task_logs`` table: written in batches, read per run.

Operational data, not the audit log: the rows are not hash-chained, no event refers to
them, and ``verify`` does not look at them.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from . import schema
from .database import READ_ONLY, retry_unavailable, translated_errors
from .records import TaskLogLine, stored_message

_TASK_LOGS = schema.task_logs


class SqlTaskLogStore:
    """``task_logs`` on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    @retry_unavailable
    def put_logs(self, lines: Sequence[TaskLogLine]) -> None:
        """Store a batch of lines in one transaction (one executemany)."""
        if not lines:
            return
        rows = [_row(line) for line in lines]
        with translated_errors(self._engine), self._engine.begin() as connection:
            connection.execute(_TASK_LOGS.insert(), rows)

    @retry_unavailable
    def read_logs(self, run_id: str, task_key: str | None = None) -> list[TaskLogLine]:
        """A run's lines (or one task's), ordered by task key, attempt and seq."""
        c = _TASK_LOGS.c
        query = sa.select(
            c.run_id,
            c.task_key,
            c.attempt,
            c.seq_in_attempt,
            c.ts,
            c.stream,
            c.message,
            c.level,
            c.logger,
        ).where(c.run_id == run_id)
        if task_key is not None:
            query = query.where(c.task_key == task_key)
        query = query.order_by(c.task_key, c.attempt, c.seq_in_attempt, c.id)
        with (
            translated_errors(self._engine),
            self._engine.connect().execution_options(**{READ_ONLY: True}) as connection,
        ):
            return [TaskLogLine(*row) for row in connection.execute(query)]


def _row(line: TaskLogLine) -> dict[str, Any]:
    return {
        "run_id": line.run_id,
        "task_key": line.task_key,
        "attempt": line.attempt,
        "seq_in_attempt": line.seq,
        "ts": line.ts,
        "stream": line.stream,
        "level": line.level,
        "logger": line.logger,
        "message": stored_message(line.message),
    }
