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


class RunLease:
    """One run's lease inside a ``LeaseGroup``: ``check`` before every append."""

    __slots__ = ("is_lost", "owner", "run_id")

    def __init__(self, run_id: str, owner: str) -> None:
        self.run_id = run_id
        self.owner = owner
        self.is_lost = False

    def check(self) -> None:
        """Raise ``LeaseLost`` if a heartbeat found the run taken over."""
        if self.is_lost:
            raise LeaseLost(self.run_id, self.owner)


class LeaseGroup:
    """Renews the leases of every run one driver holds, every ttl/3 seconds, in one
    background thread (a worker driving hundreds of runs holds one thread for them all).

    ``hold`` adds a run whose lease the owner has taken; ``let_go`` gives it back: released
    after a drive that ended well, left to lapse at once after a failed one (so another
    worker recovers the run without waiting), untouched if it was lost; ``hand_back`` gives
    up the lease of a run handed back.
    """

    def __init__(self, store: Leases, owner: str, ttl: float) -> None:
        self._store = store
        self.owner = owner
        self._ttl = ttl
        self._held: dict[str, RunLease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def hold(self, run_id: str) -> RunLease:
        """Keep renewing the lease of ``run_id`` (the owner holds it now)."""
        lease = RunLease(run_id, self.owner)
        with self._lock:
            self._held[run_id] = lease
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="ledgerflow-leases", daemon=True)
                self._thread.start()
        return lease

    def let_go(self, lease: RunLease, ended_well: bool) -> None:
        """Stop renewing the lease: release it, or let it lapse at once after a failure."""
        with self._lock:
            self._held.pop(lease.run_id, None)
        if lease.is_lost:
            return
        if ended_well:
            self._store.release(lease.run_id, self.owner)
        else:
            self._store.heartbeat(lease.run_id, self.owner, _LAPSE_NOW)

    def hand_back(self, lease: RunLease) -> None:
        """Stop renewing the lease of a run handed back, and give it up for another driver to
        claim the run at once."""
        with self._lock:
            self._held.pop(lease.run_id, None)
        if not lease.is_lost:
            self._store.hand_back(lease.run_id, self.owner)

    @property
    def held(self) -> int:
        """How many leases are renewed."""
        return len(self._held)

    def close(self) -> None:
        """Stop the heartbeat thread (the leases held lapse with their ttl)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._ttl / 3):
            with self._lock:
                leases = list(self._held.values())
            for lease in leases:
                self._renew(lease)

    def _renew(self, lease: RunLease) -> None:
        try:
            if not self._store.heartbeat(lease.run_id, self.owner, self._ttl):
                logger.warning("run %s: lease taken over; %s stands down", lease.run_id, self.owner)
                lease.is_lost = True
                with self._lock:
                    self._held.pop(lease.run_id, None)
        except LedgerflowError:  # the database is away: the next beat tries again
            logger.warning("run %s: heartbeat failed", lease.run_id, exc_info=True)


class LeaseKeeper:
    """Keeps one run's lease while it is driven: a ``LeaseGroup`` of one, as a context
    manager that releases the lease on success and lets it lapse at once on failure."""

    def __init__(self, store: Leases, run_id: str, owner: str, ttl: float) -> None:
        self._group = LeaseGroup(store, owner, ttl)
        self._run_id = run_id
        self._lease: RunLease | None = None

    def __enter__(self) -> RunLease:
        self._lease = self._group.hold(self._run_id)
        return self._lease

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        self._group.close()
        assert self._lease is not None
        self._group.let_go(self._lease, ended_well=exc_type is None)
