"""Keep a driver's lease on a run alive with heartbeats, and notice when it is lost."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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


class RunLease:
    """One run's lease inside a ``LeaseGroup`` (for ``ttl`` s at a time): ``check`` before
    every append. Only a lease ``is_held`` is renewed, and released or let lapse at the end: a
    new run's is not held until the drive's first append creates the run with it, and a
    run's is not held once the drive's last append gave it up (``RunAppend.release``)."""

    __slots__ = ("is_held", "is_lost", "owner", "run_id", "ttl")

    def __init__(self, run_id: str, owner: str, ttl: float, *, is_held: bool = True) -> None:
        self.run_id = run_id
        self.owner = owner
        self.ttl = ttl
        self.is_held = is_held
        self.is_lost = False

    def check(self) -> None:
        """Raise ``LeaseLost`` if a heartbeat found the run taken over."""
        if self.is_lost:
            raise LeaseLost(self.run_id, self.owner)


class LeaseGroup:
    """Renews the leases of every run one driver holds, every ttl/3 seconds, in one
    background thread and one statement (a worker driving hundreds of runs holds one thread
    for them all, and renews them in one round trip).

    ``hold`` adds a run whose lease the owner has taken; ``let_go`` gives runs back:
    released after drives that ended well, left to lapse at once after failed ones (so
    another worker recovers the run without waiting), untouched if lost or released by the
    drive's last append; ``hand_back`` gives up the lease of a run handed back. The thread
    starts with the first ``hold`` and serves every run held until ``close``.
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

    def hold(self, run_id: str, *, is_taken: bool = True) -> RunLease:
        """Keep renewing the lease of ``run_id`` (the owner holds it now, or, not ``is_taken``,
        takes it with the run's first append)."""
        lease = RunLease(run_id, self.owner, self._ttl, is_held=is_taken)
        with self._lock:
            self._held[run_id] = lease
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="ledgerflow-leases", daemon=True)
                self._thread.start()
        return lease

    @contextmanager
    def holding(self, run_id: str, *, is_taken: bool = True) -> Iterator[RunLease]:
        """``hold`` the run's lease while the block drives it; then ``let_go`` of it: released
        if the block ended well (unless its last append released it), else left to lapse."""
        lease = self.hold(run_id, is_taken=is_taken)
        ended_well = False
        try:
            yield lease
            ended_well = True
        finally:
            self.let_go(lease, ended_well=ended_well)

    def let_go(self, *leases: RunLease, ended_well: bool) -> None:
        """Stop renewing the leases: release them, or let them lapse at once after failures
        (one statement either way)."""
        with self._lock:
            for lease in leases:
                self._held.pop(lease.run_id, None)
        kept = [lease.run_id for lease in leases if lease.is_held and not lease.is_lost]
        if not kept:
            return
        if ended_well:
            self._store.release_many(kept, self.owner)
        else:
            self._store.lapse_many(kept, self.owner)

    def hand_back(self, lease: RunLease) -> None:
        """Stop renewing the lease of a run handed back, and give it up for another driver to
        claim the run at once."""
        with self._lock:
            self._held.pop(lease.run_id, None)
        if lease.is_held and not lease.is_lost:
            self._store.hand_back(lease.run_id, self.owner)

    def close(self) -> None:
        """Stop the heartbeat thread (the leases held lapse with their ttl)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._ttl / 3):
            with self._lock:
                leases = [lease for lease in self._held.values() if lease.is_held]
            if leases:
                self._renew(leases)

    def _renew(self, leases: list[RunLease]) -> None:
        try:
            held = self._store.heartbeat_many([lease.run_id for lease in leases], self.owner, self._ttl)
        except LedgerflowError:  # the database is away: the next beat tries again
            logger.warning("%s: heartbeat of %d leases failed", self.owner, len(leases), exc_info=True)
            return
        with self._lock:
            for lease in leases:  # one released meanwhile is not held, and not lost either
                if lease.run_id in held or not lease.is_held:
                    continue
                if self._held.get(lease.run_id) is lease:
                    logger.warning("run %s: lease taken over; %s stands down", lease.run_id, self.owner)
                    lease.is_lost = True
                    del self._held[lease.run_id]
