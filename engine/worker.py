"""``lf.Worker``: resume runs whose driver died, claiming each by lease."""

import logging
import threading
from pathlib import Path
from typing import Self

from ..errors import LedgerflowError
from ..executors import Executor
from .api import Engine
from .events import EventType, NewEvent

logger = logging.getLogger(__name__)


class Worker:
    """Polls the database for runs whose lease expired and resumes them.

    Claims are atomic (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers never
    resume the same run. A run that cannot be resumed (its flow no longer loads) is
    recorded as CRASHED with the reason, and left for a person to look at.
    """

    def __init__(
        self,
        database_url: str | None = None,
        executor: Executor | str | None = None,
        *,
        home: str | Path | None = None,
        poll_interval: float = 5.0,
        lease_ttl: float = 30.0,
    ) -> None:
        self.engine = Engine(database_url, executor, home=home, lease_ttl=lease_ttl)
        self.poll_interval = poll_interval
        self._stop = threading.Event()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the worker's engine (its executor and database connections)."""
        self.engine.close()

    def stop(self) -> None:
        """Ask ``run`` to return after the run it is driving, if any."""
        self._stop.set()

    def run_once(self) -> list[str]:
        """Claim and drive at most one crashed run; returns the ids driven."""
        log = self.engine.storage.log
        claimed = log.claim_crashed(self.engine.owner, self.engine.lease_ttl, limit=1)
        for run_id in claimed:
            logger.info("worker %s: resuming run %s", self.engine.owner, run_id)
            try:
                self.engine.resume_claimed(run_id)
            except LedgerflowError as exc:
                logger.error("worker %s: cannot resume run %s: %s", self.engine.owner, run_id, exc)
                self._record_crash(run_id, str(exc))
        return claimed

    def run(self) -> None:
        """Resume crashed runs until ``stop()`` is called."""
        while not self._stop.is_set():
            if not self.run_once():
                self._stop.wait(self.poll_interval)

    def _record_crash(self, run_id: str, reason: str) -> None:
        log = self.engine.storage.log
        head = log.run(run_id)
        if head.owner != self.engine.owner or head.state not in ("RUNNING", "CRASHED", "PENDING"):
            return
        crashed = NewEvent(None, EventType.RUN_CRASHED.value, {"reason": reason[:2000]})
        try:
            log.append(run_id, head.head_seq, [crashed])
        except LedgerflowError:
            logger.warning("worker: could not record run %s as crashed", run_id, exc_info=True)
        log.release(run_id, self.engine.owner)
