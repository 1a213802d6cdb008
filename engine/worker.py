"""``lf.Worker``: drive submitted (SCHEDULED) runs and resume runs whose driver died."""

import logging
import os
import socket
import threading
from pathlib import Path
from typing import Self

from ..executors import Executor
from ..executors.text import exception_text
from ..storage import AppendConflict
from .api import Engine
from .core.errors import LedgerflowError
from .core.events import EventType, NewEvent
from .drive_failures import RunBackoff, is_repeatable
from .lease import LeaseLost
from .schedule_runner import ScheduleRunner

logger = logging.getLogger(__name__)


class Worker:
    """Polls the database for runs to drive: crashed ones first, then SCHEDULED ones.

    Claims are atomic (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers never
    drive the same run. A run that cannot be resumed as it is (see ``drive_failures``: its
    log does not fold, its flow no longer loads, the database refuses a value) is recorded
    as CRASHED with the reason and never claimed again until a person resumes it; a run
    that failed for a transient reason is skipped for a wait that doubles per failure
    (``backoff``), so other runs are driven meanwhile. A run's secret parameters come from
    this process's environment (``LEDGERFLOW_SECRET_<NAME>``, checked against the recorded
    keyed hash); without them the run is logged and skipped, and its claim lapses for a
    worker that has them. While ``run`` runs, the worker is listed in
    the ``workers`` registry under ``name`` (default: its lease owner) with a heartbeat
    every ``poll_interval`` seconds. With ``schedules`` (the default), each poll also
    creates the runs of due schedules (see ``ScheduleRunner``). ``result_storage`` is where
    the runs it drives write their results (see ``Engine``).
    """

    def __init__(
        self,
        database_url: str | None = None,
        executor: Executor | str | None = None,
        *,
        home: str | Path | None = None,
        poll_interval: float = 5.0,
        lease_ttl: float = 30.0,
        name: str | None = None,
        schedules: bool = True,
        result_storage: str | None = None,
    ) -> None:
        self.engine = Engine(
            database_url, executor, home=home, lease_ttl=lease_ttl, result_storage=result_storage
        )
        self.schedule_runner = ScheduleRunner(self.engine, poll_interval=poll_interval) if schedules else None
        self.poll_interval = poll_interval
        self.name = name or self.engine.owner
        self.registry = self.engine.storage.workers
        self.backoff = RunBackoff()
        self._stop = threading.Event()
        self._is_registered = False

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
        """Claim and drive at most one run (a crashed one first, else a scheduled one);
        returns the ids driven. Creates the runs of due schedules first."""
        if self.schedule_runner is not None:
            self.schedule_runner.tick()
        log, owner, ttl = self.engine.storage.log, self.engine.owner, self.engine.lease_ttl
        skip = self.backoff.waiting()
        claimed, reason = log.claim_crashed(owner, ttl, limit=1, skip=skip), "resume"
        if not claimed:
            claimed, reason = log.claim_scheduled(owner, ttl, limit=1, skip=skip), "worker"
        for run_id in claimed:
            logger.info("worker %s: driving run %s (%s)", self.name, run_id, reason)
            self._drive(run_id, reason)
            self.driven(run_id, reason)
        if claimed and self._is_registered:
            self._beat(runs_driven=len(claimed))
        return claimed

    def driven(self, run_id: str, reason: str) -> None:
        """Called after driving each claimed run (``reason``: "resume" or "worker"); a hook."""

    def run(self) -> None:
        """Register, drive runs until ``stop()`` is called, then sign off as stopped."""
        self.register()
        beating = threading.Thread(target=self._keep_beating, name="ledgerflow-worker-heartbeat", daemon=True)
        beating.start()
        try:
            while not self._stop.is_set():
                if not self.run_once():
                    self._stop.wait(self.poll_interval)
        finally:
            self._stop.set()
            beating.join(timeout=self.poll_interval + 5)
            self.registry.mark_stopped(self.name)
            self._is_registered = False

    def register(self) -> None:
        """List this worker in the registry as running."""
        self.registry.register(self.name, socket.gethostname(), os.getpid())
        self._is_registered = True

    def _keep_beating(self) -> None:
        """Background thread: heartbeat every poll interval, idle or driving a run."""
        while not self._stop.wait(self.poll_interval):
            self._beat()

    def _beat(self, runs_driven: int = 0) -> None:
        try:
            self.registry.heartbeat(self.name, runs_driven)
        except LedgerflowError:
            logger.warning("worker %s: heartbeat failed", self.name, exc_info=True)

    def _drive(self, run_id: str, reason: str) -> None:
        """Drive a claimed run; a failure crashes the run or makes this worker skip it a while."""
        try:
            self.engine.resume_claimed(run_id, reason=reason)
        except (AppendConflict, LeaseLost) as exc:  # another driver has it: not ours to mark
            logger.warning("worker %s: lost run %s to another writer: %s", self.name, run_id, exc)
        except Exception as exc:  # whatever happens, the worker goes on with other runs
            self._failed(run_id, exc)
        else:
            self.backoff.forget(run_id)

    def _failed(self, run_id: str, exc: Exception) -> None:
        if not isinstance(exc, LedgerflowError):
            logger.debug("worker %s: driving run %s raised", self.name, run_id, exc_info=True)
        error = f"{type(exc).__name__}: {exception_text(exc)}"
        if is_repeatable(exc) and (done := self._give_up(run_id, error)) is not None:
            self.backoff.forget(run_id)
            logger.error(
                "worker %s: run %s cannot be resumed as it is (%s): %s", self.name, run_id, error, done
            )
            return
        wait = self.backoff.failed(run_id)
        logger.error(
            "worker %s: driving run %s failed (%s); skipping it for %g s", self.name, run_id, error, wait
        )

    def _give_up(self, run_id: str, error: str) -> str | None:
        """Stop claiming the run until a person acts: record it CRASHED (an ended run owing
        hooks: let go of it). Says what was done; None if nothing could be (a SCHEDULED run,
        or the lease is gone): the run is backed off instead."""
        log, owner = self.engine.storage.log, self.engine.owner
        try:
            head = log.run(run_id)
            if head.owner != owner:
                return None
            if head.state in ("SUCCEEDED", "FAILED", "CANCELLED"):
                log.release(run_id, owner)
                return "let go of it; deliver its owed hooks with `ledgerflow resume` once fixed"
            if head.state not in ("RUNNING", "CRASHED", "PENDING"):  # SCHEDULED: it never started
                return None  # (CRASHED: shown for RUNNING once the failed drive let its lease lapse)
            reason = f"cannot be resumed as it is: {error}"[:2000]
            crashed = NewEvent(None, EventType.RUN_CRASHED.value, {"reason": reason})
            log.append(run_id, head.head_seq, [crashed], owner=owner)
            log.release(run_id, owner)
        except LedgerflowError:
            logger.warning("worker %s: could not record run %s as crashed", self.name, run_id, exc_info=True)
            return None
        return f"recorded it CRASHED; fix the cause, then `ledgerflow resume {run_id}`"
