"""Keep a driver's lease on a run alive with heartbeats, and notice when it is lost."""

import logging
import threading
from typing import Self

from ..storage.protocols import Leases
from .core.errors import LedgerflowError

logger = logging.getLogger(__name__)


class LeaseLost(LedgerflowError):
    """Another driver took the run over: this one stands down without appending."""

    def __init__(self, run_id: str, owner: str) -> None:
        self.run_id = run_id
        self.owner = owner
        super().__init__(
            f"run {run_id}: driver {owner} lost its lease (another process took the run over); "
            "it stops driving the run"
        )


_LAPSE_NOW = 1e-6  # seconds: a lease renewed for this long has, in effect, expired


class LeaseKeeper:
    """Renews a lease every ttl/3 seconds in a background thread while a run is driven."""

    def __init__(self, store: Leases, run_id: str, owner: str, ttl: float) -> None:
        self._store = store
        self.run_id = run_id
        self.owner = owner
        self._ttl = ttl
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"ledgerflow-lease-{run_id}", daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._lost.is_set():
            return
        if exc_type is None:
            self._store.release(self.run_id, self.owner)
        else:
            # The driver failed: let the lease lapse at once, so a worker can recover the run.
            self._store.heartbeat(self.run_id, self.owner, _LAPSE_NOW)

    def check(self) -> None:
        """Raise ``LeaseLost`` if a heartbeat found the run taken over."""
        if self._lost.is_set():
            raise LeaseLost(self.run_id, self.owner)

    def _beat(self) -> None:
        while not self._stop.wait(self._ttl / 3):
            try:
                if not self._store.heartbeat(self.run_id, self.owner, self._ttl):
                    logger.warning("run %s: lease taken over; %s stands down", self.run_id, self.owner)
                    self._lost.set()
                    return
            except LedgerflowError:  # the database is away: the next beat tries again
                logger.warning("run %s: heartbeat failed", self.run_id, exc_info=True)
