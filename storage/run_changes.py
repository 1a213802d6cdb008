"""Which runs changed: on PostgreSQL, a connection listening on the channel that migration
0009's trigger notifies with the id of every run that appends; on any database, the heads
of the runs that appended lately (for polling)."""

from datetime import datetime

import sqlalchemy as sa

from ..engine.core.states import RunState
from . import schema
from .database import READ_ONLY, translated_errors
from .postgres import ChannelListener

CHANNEL = "ledgerflow_events"
"""The channel of the notifications; each payload is the id of a run that appended."""
LISTENER_NAME = "ledgerflow listener"
"""The ``application_name`` of listening connections (as ``pg_stat_activity`` shows it)."""

_RUNS = schema.runs


class AppendListener(ChannelListener):
    """A connection of its own to a PostgreSQL database that listens for appends.

    Use it from one thread. Driver errors raise ``StorageUnavailable``: open a new one.
    """

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine, CHANNEL, LISTENER_NAME, "appends")

    def appended_runs(self, timeout: float) -> set[str]:
        """Ids of runs that appended: the first notifications to arrive within ``timeout``
        seconds (with any that came with them), or none."""
        return self.notified(timeout)


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
