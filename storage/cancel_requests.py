"""Cancel requests: any process asks for a run to end CANCELLED; its driver records it.

A request is a row in ``cancel_requests``, not an event: a live driver owns its run's
log (appends are fenced by seq), so another process must not append to it. The driver
polls the row, records ``run.cancel_requested`` from it, cancels the run and deletes the
row once the run has ended. A run nobody drives is cancelled by the requester itself,
after taking its lease with ``claim_undriven``. Times are the caller's clock (UTC).
"""

import logging
from collections.abc import Collection
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from . import schema
from .database import READ_ONLY, chunked, retry_unavailable, translated_errors
from .errors import StorageError
from .lease_terms import lease_expiry, utc_now
from .records import CancelRequest

logger = logging.getLogger(__name__)

_REQUESTS = schema.cancel_requests
_RUNS = schema.runs


class SqlCancelRequests:
    """The ``cancel_requests`` table on one database engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    @retry_unavailable
    def request(
        self, run_id: str, requested_by: str, reason: str | None = None, now: datetime | None = None
    ) -> CancelRequest:
        """Ask for the run to be cancelled; returns the request that stands (the first one,
        if the run was asked already)."""
        wanted = CancelRequest(run_id, utc_now(now), requested_by, reason)
        try:
            with translated_errors(self._engine), self._engine.begin() as connection:
                found = _select(connection, run_id)
                if found is not None:
                    return found
                connection.execute(
                    _REQUESTS.insert().values(
                        run_id=run_id, requested_at=wanted.requested_at,
                        requested_by=requested_by, reason=reason,
                    )
                )  # fmt: skip
        except StorageError as exc:
            if not isinstance(exc.__cause__, sa_exc.IntegrityError):
                raise
            found = self.get(run_id)  # another process asked at the same moment
            if found is None:
                raise
            return found
        logger.info("run %s: %s asked to cancel it (%s)", run_id, requested_by, reason or "no reason")
        return wanted

    @retry_unavailable
    def get(self, run_id: str) -> CancelRequest | None:
        """The standing request to cancel the run, or None."""
        with (
            translated_errors(self._engine),
            self._engine.connect().execution_options(**{READ_ONLY: True}) as connection,
        ):
            return _select(connection, run_id)

    @retry_unavailable
    def get_many(self, run_ids: Collection[str]) -> dict[str, CancelRequest]:
        """The standing requests to cancel any of ``run_ids``, by run id (one query per
        thousand runs)."""
        wanted = sorted(set(run_ids))
        found: dict[str, CancelRequest] = {}
        with (
            translated_errors(self._engine),
            self._engine.connect().execution_options(**{READ_ONLY: True}) as connection,
        ):
            for chunk in chunked(wanted):
                rows = connection.execute(_SELECT.where(_REQUESTS.c.run_id.in_(chunk)))
                found.update((row.run_id, CancelRequest(*row)) for row in rows)
        return found

    @retry_unavailable
    def discard(self, run_id: str) -> None:
        """Delete the run's request (it has been acted on, or the run has ended)."""
        with translated_errors(self._engine), self._engine.begin() as connection:
            connection.execute(_REQUESTS.delete().where(_REQUESTS.c.run_id == run_id))

    @retry_unavailable
    def claim_undriven(self, run_id: str, owner: str, ttl: float, now: datetime | None = None) -> bool:
        """Take the run's lease if no live driver holds it; True if taken.

        Undriven: SCHEDULED or CRASHED without a live lease, or RUNNING or PENDING whose
        lease expired (or that has none and saw no append for ``ttl`` s: its creator died
        before taking it). The UPDATE re-checks this, so a concurrent claim wins once.
        """
        now = utc_now(now)
        lease, stale = _RUNS.c.lease_expires_at, now - timedelta(seconds=ttl)
        is_undriven = sa.or_(
            sa.and_(_RUNS.c.state.in_(("SCHEDULED", "CRASHED")), sa.or_(lease.is_(None), lease <= now)),
            sa.and_(
                _RUNS.c.state.in_(("RUNNING", "PENDING")),
                sa.or_(lease <= now, sa.and_(lease.is_(None), _RUNS.c.updated_at <= stale)),
            ),
        )
        update = (
            _RUNS.update()
            .where(_RUNS.c.run_id == run_id, is_undriven)
            .values(owner=owner, lease_expires_at=lease_expiry(now, ttl))
        )
        with translated_errors(self._engine), self._engine.begin() as connection:
            return connection.execute(update).rowcount == 1


_SELECT = sa.select(
    _REQUESTS.c.run_id, _REQUESTS.c.requested_at, _REQUESTS.c.requested_by, _REQUESTS.c.reason
)


def _select(connection: sa.Connection, run_id: str) -> CancelRequest | None:
    row = connection.execute(_SELECT.where(_REQUESTS.c.run_id == run_id)).first()
    return None if row is None else CancelRequest(*row)
