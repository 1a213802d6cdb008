"""Runs that any worker may claim now, announced on PostgreSQL.

A run created SCHEDULED (submitted, or due on a schedule) and a run whose lease was let
lapse (its drive failed, or it was handed back) notify ``ledgerflow_claimable`` with their
ids in the transaction that makes them claimable; idle workers listen on a connection of
their own and claim at once rather than at their next poll. A run whose driver died
becomes claimable when its lease expires, which nobody announces: the workers' poll finds
it. SQLite has no notifications: its workers poll.
"""

import sqlalchemy as sa

from .postgres import ChannelListener, notify

CLAIMABLE_CHANNEL = "ledgerflow_claimable"
"""The channel of the notifications; each payload is the id of a run that became claimable."""
CLAIM_LISTENER_NAME = "ledgerflow worker listener"
"""The ``application_name`` of the workers' listening connections."""


def can_listen(database: sa.Engine | None) -> bool:
    """Whether workers on this database can be woken by notifications (PostgreSQL)."""
    return database is not None and database.dialect.name == "postgresql"


def announce_claimable(connection: sa.Connection, run_ids: list[str]) -> None:
    """Notify the listening workers of these runs when the transaction commits."""
    notify(connection, CLAIMABLE_CHANNEL, run_ids)


class ClaimListener(ChannelListener):
    """A connection of its own that listens for runs becoming claimable (PostgreSQL).

    Use it from one thread. Driver errors raise ``StorageUnavailable``: open a new one.
    """

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine, CLAIMABLE_CHANNEL, CLAIM_LISTENER_NAME, "claimable runs")

    def claimable_runs(self, timeout: float) -> set[str]:
        """Ids of runs that became claimable: the first notifications to arrive within
        ``timeout`` seconds (with any that came with them), or none."""
        return self.notified(timeout)
