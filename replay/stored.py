"""Where replay reads a run's stored rows: the event log's ``read_rows`` port."""

from typing import Protocol

import sqlalchemy as sa

from ..storage.protocols import EventLog
from ..storage.sql_log import SqlEventLog


class _Storage(Protocol):
    @property
    def log(self) -> EventLog: ...


Source = sa.Engine | _Storage | EventLog
"""Where a run is read from: an open storage, its event log, or a SQL database's engine."""


def event_log(source: Source) -> EventLog:
    """The event log of ``source`` (a bare engine is read as a SQL event log)."""
    if isinstance(source, sa.Engine):
        return SqlEventLog(source)
    if isinstance(source, EventLog):
        return source
    return source.log
