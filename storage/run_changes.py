"""Which runs changed: on PostgreSQL, a connection listening on the channel that migration
0009's trigger notifies with the id of every run that appends; on any database, the heads
of the runs that appended lately (for polling)."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import psycopg
import sqlalchemy as sa

from ..engine.core.states import RunState
from . import schema
from .database import PG_CONNECT_TIMEOUT_S, READ_ONLY, masked_url, translated_errors
from .errors import StorageUnavailable

CHANNEL = "ledgerflow_events"
"""The channel of the notifications; each payload is the id of a run that appended."""
LISTENER_NAME = "ledgerflow listener"
"""The ``application_name`` of listening connections (as ``pg_stat_activity`` shows it)."""

_RUNS = schema.runs


class AppendListener:
    """A connection of its own to a PostgreSQL database that listens for appends.

    Use it from one thread. Driver errors raise ``StorageUnavailable``: open a new one.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._where = masked_url(engine)
        conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with self._translated():
            self._connection: psycopg.Connection[Any] = psycopg.connect(
                conninfo, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT_S,
                application_name=LISTENER_NAME,
            )  # fmt: skip
        try:
            with self._translated():
                self._connection.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            self._connection.close()
            raise

    def appended_runs(self, timeout: float) -> set[str]:
        """Ids of runs that appended: the first notifications to arrive within ``timeout``
        seconds (with any that came with them), or none."""
        with self._translated():
            return {notify.payload for notify in self._connection.notifies(timeout=timeout, stop_after=1)}

    def close(self) -> None:
        """Close the connection (which stops listening)."""
        self._connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            raise StorageUnavailable(f"listening for appends at {self._where} failed: {exc}") from exc


def run_heads_since(engine: sa.Engine, since: datetime) -> dict[str, int]:
    """Run id -> head seq of the runs whose last append is stamped at or after ``since``."""
    every_state = _RUNS.c.state.in_([state.value for state in RunState])  # so the (state,
    # updated_at) index serves the query: a search, not a scan of every run
    query = sa.select(_RUNS.c.run_id, _RUNS.c.head_seq).where(every_state, _RUNS.c.updated_at >= since)
    with (
        translated_errors(engine),
        engine.connect().execution_options(**{READ_ONLY: True}) as connection,
    ):
        return {run_id: head_seq for run_id, head_seq in connection.execute(query)}
