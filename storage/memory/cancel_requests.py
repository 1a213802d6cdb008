"""Cancel requests in memory (the semantics of ``storage.cancel_requests``)."""

import logging
from collections.abc import Collection
from datetime import datetime

from ..lease_terms import is_undriven, lease_expiry, utc_now
from ..records import CancelRequest
from .tables import MemoryTables

logger = logging.getLogger(__name__)


class MemoryCancelRequests:
    """``CancelRequests`` in memory: the first request of a run stands until discarded."""

    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    def request(
        self, run_id: str, requested_by: str, reason: str | None = None, now: datetime | None = None
    ) -> CancelRequest:
        """Ask for the run to be cancelled; returns the request that stands (the first one)."""
        wanted = CancelRequest(run_id, utc_now(now), requested_by, reason)
        with self._tables.lock:
            standing = self._tables.cancel_requests.setdefault(run_id, wanted)
        if standing is wanted:
            logger.info("run %s: %s asked to cancel it (%s)", run_id, requested_by, reason or "no reason")
        return standing

    def get(self, run_id: str) -> CancelRequest | None:
        """The standing request to cancel the run, or None."""
        with self._tables.lock:
            return self._tables.cancel_requests.get(run_id)

    def get_many(self, run_ids: Collection[str]) -> dict[str, CancelRequest]:
        """The standing requests to cancel any of ``run_ids``, by run id."""
        with self._tables.lock:
            requests = self._tables.cancel_requests
            return {run_id: requests[run_id] for run_id in run_ids if run_id in requests}

    def discard(self, run_id: str) -> None:
        """Delete the run's request (it has been acted on, or the run has ended)."""
        with self._tables.lock:
            self._tables.cancel_requests.pop(run_id, None)

    def claim_undriven(self, run_id: str, owner: str, ttl: float, now: datetime | None = None) -> bool:
        """Take the run's lease if no live driver holds it (see ``storage.lease_terms``);
        True if taken."""
        now = utc_now(now)
        expires = lease_expiry(now, ttl)
        with self._tables.lock:
            run = self._tables.runs.get(run_id)
            if run is None or not is_undriven(run, now, ttl):
                return False
            self._tables.lease(run, owner, expires)
        return True
