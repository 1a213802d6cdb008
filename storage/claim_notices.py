"""Runs that any worker may claim now, announced on PostgreSQL.

A run created SCHEDULED (submitted, or due on a schedule) and a run whose lease was let
lapse (its drive failed) or given up (it was handed back) notify ``ledgerflow_claimable``
with their ids in the transaction that makes them claimable; so does a run of a limited
flow whose lease was released or given up (it ended, or was let go), with ``flow:NAME``:
a slot of its flow came free, and a run waiting for one may be claimed. Idle workers
listen on a connection of their own and claim at once rather than at their next poll. A
run whose driver died becomes claimable (and its slot free) when its lease expires, which
nobody announces: the workers' poll finds it. SQLite has no notifications: its workers poll.
"""

from collections.abc import Collection

import sqlalchemy as sa

from .postgres import ChannelListener, notify
from .run_slots import flow_limit_name

CLAIMABLE_CHANNEL = "ledgerflow_claimable"
"""The channel of the notifications; each payload is the id of a run that became claimable,
or ``flow:NAME`` (see ``run_slots.flow_limit_name``) when a slot of flow NAME came free."""
CLAIM_LISTENER_NAME = "ledgerflow worker listener"
"""The ``application_name`` of the workers' listening connections."""


def can_listen(database: sa.Engine | None) -> bool:
    """Whether workers on this database can be woken by notifications (PostgreSQL)."""
    return database is not None and database.dialect.name == "postgresql"


def announce_claimable(connection: sa.Connection, run_ids: list[str]) -> None:
    """Notify the listening workers of these runs when the transaction commits."""
    notify(connection, CLAIMABLE_CHANNEL, run_ids)


def announce_freed_slots(connection: sa.Connection, flows: Collection[str]) -> None:
    """Notify the listening workers that slots of these flows came free when the transaction
    commits."""
    notify(connection, CLAIMABLE_CHANNEL, sorted(flow_limit_name(flow) for flow in set(flows)))


class ClaimListener(ChannelListener):
    """A connection of its own that listens for runs becoming claimable (PostgreSQL).

    Use it from one thread. Driver errors raise ``StorageUnavailable``: open a new one.
    """

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine, CLAIMABLE_CHANNEL, CLAIM_LISTENER_NAME, "claimable runs")

    def claimable_runs(self, timeout: float) -> set[str]:
        """Ids of runs that became claimable (and ``flow:NAME`` for flows with a slot come
        free): the first notifications to arrive within ``timeout`` seconds (with any that
        came with them), or none."""
        return self.notified(timeout)
