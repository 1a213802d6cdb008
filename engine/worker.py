"""``lf.Worker``: drive submitted (SCHEDULED) runs and resume runs whose driver died."""

import logging
import os
import socket
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import Self

from ..executors import Executor
from ..executors.text import exception_text
from ..executors.threads import ThreadExecutor
from ..storage import DEFAULT_QUEUE, AppendConflict, check_queues
from .api import Engine
from .core.errors import LedgerflowError
from .core.events import Event, EventType, NewEvent
from .drive_failures import RunBackoff, is_repeatable
from .lease import LeaseGroup, LeaseLost, RunLease
from .log_context import about
from .runtime import DriveEnded, RunLoop, RunToDrive
from .schedule_runner import ScheduleRunner
from .wakeups import ClaimWakeups

logger = logging.getLogger(__name__)

DEFAULT_MAX_RUNS = 100
"""How many runs a worker drives at once unless told otherwise."""
HAND_BACK_REASON = "worker stopping"
"""Why a stopping worker hands back the runs it still drives (recorded in run.handed_back)."""


class Worker:
    """Drives up to ``max_runs`` runs at once on one executor: crashed ones first, then
    SCHEDULED ones, claimed from the database in batches: at once while claims find runs,
    when a run is announced (PostgreSQL wakes an idle worker by LISTEN/NOTIFY the moment a
    run is submitted or let go, or a run of a limited flow lets its slot go, see
    ``wakeups``), else every ``poll_interval`` seconds.

    Claims are atomic (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers never
    drive the same run. All the runs a worker drives share one loop thread (``RunLoop``),
    one heartbeat thread renewing their leases and the executor, whose task bodies run, by
    default, as many at once as the worker drives runs (threads: ``max_runs`` pool
    threads). A run that cannot be resumed as it is (see ``drive_failures``: its log does
    not fold, its flow no longer loads, the database refuses a value) is recorded as CRASHED
    with the reason and never claimed again until a person resumes it; a run that failed for
    a transient reason is skipped for a wait that doubles per failure (``backoff``), so
    other runs are driven meanwhile. A run's secret parameters come from this process's
    environment (``LEDGERFLOW_SECRET_<NAME>``, checked against the recorded keyed hash);
    without them the run is logged and skipped, and its claim lapses for a worker that has
    them. ``stop(grace=...)`` stops claiming and, once the grace has passed, hands the runs
    still driven back (``run.handed_back``, their leases given up) for other workers to resume
    at once. While ``run`` runs, the worker is listed in the ``workers`` registry under
    ``name`` (default: its lease owner) with a heartbeat every ``poll_interval`` seconds.
    With ``schedules`` (the default), each poll also creates the runs of due schedules (see
    ``ScheduleRunner``). ``result_storage`` is where the runs it drives write their results
    (see ``Engine``). It claims only runs of ``queues`` (higher priority first, then older),
    and a run of a limited flow only with a free slot of its flow (see ``storage.run_slots``).
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
        max_runs: int = DEFAULT_MAX_RUNS,
        queues: Collection[str] = (DEFAULT_QUEUE,),
    ) -> None:
        if max_runs < 1:
            raise ValueError(f"a worker drives at least one run at once, not max_runs={max_runs}")
        self.queues: tuple[str, ...] = tuple(check_queues(queues))  # the queues it takes runs from
        self._own_executor = None
        if executor is None or executor == "threads":
            executor = self._own_executor = ThreadExecutor(max_workers=max_runs)
        self.engine = Engine(
            database_url, executor, home=home, lease_ttl=lease_ttl, result_storage=result_storage
        )
        self.schedule_runner = ScheduleRunner(self.engine, poll_interval=poll_interval) if schedules else None
        self.poll_interval = poll_interval
        self.max_runs = max_runs
        self.name = name or self.engine.owner
        self.registry = self.engine.storage.workers
        self.backoff = RunBackoff()
        self._stop = threading.Event()
        self._hand_back_at: float | None = None  # monotonic time the runs still driven go back
        self._is_registered = False
        self._loop: RunLoop | None = None
        self._wakeups: ClaimWakeups | None = None
        self._is_woken = threading.Event()  # a run became claimable since the last look
        self._reasons: dict[str, str] = {}  # run id -> why it is driven ("resume", "worker")
        self._leases: dict[str, RunLease] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the worker's engine (its executor and database connections)."""
        try:
            self.engine.close()
        finally:
            if self._own_executor is not None:
                self._own_executor.close()

    def stop(self, grace: float | None = None) -> None:
        """Ask ``run`` to claim no more runs and return once those it drives have ended, or,
        ``grace`` seconds from now (None: no limit), to hand back those still driven: each is
        recorded ``run.handed_back`` (the attempts in flight abandoned) and its lease given up,
        so another worker resumes it at once. A later call may shorten the grace (0: now)."""
        if grace is not None:
            at = time.monotonic() + max(0.0, grace)
            if self._hand_back_at is None or at < self._hand_back_at:
                self._hand_back_at = at
        self._stop.set()
        if self._loop is not None:
            self._loop.wake()

    @property
    def driving(self) -> int:
        """How many runs this worker is driving now."""
        return len(self._reasons)

    def run_once(self, limit: int = 1) -> list[str]:
        """Claim up to ``limit`` runs (crashed ones first, then scheduled ones) and drive
        them, at once, to their ends; returns the ids claimed. Creates the runs of due
        schedules first."""
        if self.schedule_runner is not None:
            self.schedule_runner.tick()
        with LeaseGroup(self.engine.storage.log, self.engine.owner, self.engine.lease_ttl) as leases:
            loop = self._loop = RunLoop(self.engine.run_ports())
            try:
                claimed = self._claim(loop, leases, limit)
                while loop.active or self._reasons:
                    self._ended(loop.step(None if loop.active else 0), leases)
            finally:
                self._loop = None
                self._close_loop(loop, leases)
        if claimed and self._is_registered:
            self._beat(runs_driven=len(claimed))
        return claimed

    def driven(self, run_id: str, reason: str) -> None:
        """Called after driving each claimed run (``reason``: "resume" or "worker"); a hook."""

    def handed_back(self, run_id: str) -> None:
        """Called after handing back a run still RUNNING (see ``stop``); a hook."""

    def run(self) -> None:
        """Register, drive runs until ``stop()`` is called and the runs it drives have ended,
        then sign off as stopped."""
        self.register()
        beating = threading.Thread(target=self._keep_beating, name="ledgerflow-worker-heartbeat", daemon=True)
        beating.start()
        try:
            with LeaseGroup(self.engine.storage.log, self.engine.owner, self.engine.lease_ttl) as leases:
                self._drive_until_stopped(leases)
        finally:
            self._stop.set()
            beating.join(timeout=self.poll_interval + 5)
            self.registry.mark_stopped(self.name)
            self._is_registered = False

    def register(self) -> None:
        """List this worker in the registry as running."""
        self.registry.register(
            self.name, socket.gethostname(), os.getpid(), max_runs=self.max_runs, queues=self.queues
        )
        self._is_registered = True

    @property
    def is_listening(self) -> bool:
        """Whether a run becoming claimable wakes this worker at once (PostgreSQL, while
        ``run`` runs and its listening connection is up); else it finds runs by polling."""
        return self._wakeups is not None and self._wakeups.listening.is_set()

    def _wake_to_claim(self) -> None:
        """From the listening thread: a run became claimable; claim now if there is room."""
        self._is_woken.set()
        if (loop := self._loop) is not None:
            loop.wake()

    def _drive_until_stopped(self, leases: LeaseGroup) -> None:
        """Claim as room frees up (at once while claims find runs or a run is announced,
        else every poll), and drive every claimed run in one loop."""
        loop = self._loop = RunLoop(self.engine.run_ports())
        self._wakeups = ClaimWakeups.started(self.engine.storage, self._wake_to_claim)
        next_poll = next_tick = 0.0
        try:
            while not (self._stop.is_set() and not loop.active):
                now = time.monotonic()
                if self._stop.is_set() and self._hand_back_at is not None and now >= self._hand_back_at:
                    self._hand_back(loop, leases)
                    return
                if self._is_woken.is_set():
                    self._is_woken.clear()
                    next_poll = min(next_poll, now)
                room = self.max_runs - loop.active
                if not self._stop.is_set() and room > 0 and now >= next_poll:
                    if self.schedule_runner is not None and now >= next_tick:
                        self.schedule_runner.tick()
                        next_tick = now + self.poll_interval
                    claimed = self._claim(loop, leases, room)
                    if claimed:
                        self._beat(runs_driven=len(claimed))
                    next_poll = now if len(claimed) == room else now + self.poll_interval
                ended = loop.step(self._step_wait(loop, next_poll))
                if ended:
                    next_poll = min(next_poll, time.monotonic())  # room freed: look for more now
                self._ended(ended, leases)
        finally:
            if self._wakeups is not None:
                self._wakeups.stop()
                self._wakeups = None
            self._loop = None
            self._close_loop(loop, leases)

    def _step_wait(self, loop: RunLoop, next_poll: float) -> float | None:
        """How long a step may wait: until the next poll while there is room, and no later than
        the end of a stopping worker's grace (None: as long as its runs need)."""
        if self._stop.is_set():
            due = self._hand_back_at
            return None if due is None else max(0.0, due - time.monotonic())
        return max(0.0, next_poll - time.monotonic()) if loop.active < self.max_runs else None

    def _hand_back(self, loop: RunLoop, leases: LeaseGroup) -> None:
        """The grace is over: hand back every run still RUNNING and give up its lease (a run
        whose end is recorded but whose hooks are not delivered lets its lease lapse instead,
        when the loop closes)."""
        for end in loop.hand_back(HAND_BACK_REASON):
            if end.error is not None or end.view.state.is_terminal:
                self._finish(end.run_id, leases, end.error)
                continue
            self._reasons.pop(end.run_id)
            try:
                leases.hand_back(self._leases.pop(end.run_id))
            except LedgerflowError:  # its lease lapses with its ttl instead
                logger.warning(
                    "worker %s: could not give run %s up",
                    self.name,
                    end.run_id,
                    exc_info=True,
                    extra=about(end.run_id),
                )
            logger.info(
                "worker %s: handed run %s back (%s)",
                self.name,
                end.run_id,
                HAND_BACK_REASON,
                extra=about(end.run_id),
            )
            self.handed_back(end.run_id)

    def _claim(self, loop: RunLoop, leases: LeaseGroup, limit: int) -> list[str]:
        """Claim up to ``limit`` runs, crashed ones first, and start driving them."""
        log, owner, ttl = self.engine.storage.log, self.engine.owner, self.engine.lease_ttl
        skip = self.backoff.waiting()
        crashed = log.claim_crashed(owner, ttl, limit=limit, skip=skip, queues=self.queues)
        scheduled = (
            log.claim_scheduled(owner, ttl, limit=limit - len(crashed), skip=skip, queues=self.queues)
            if len(crashed) < limit
            else []
        )
        claimed = {**{run_id: "resume" for run_id in crashed}, **{run_id: "worker" for run_id in scheduled}}
        for run_id, reason in claimed.items():
            self._reasons[run_id], self._leases[run_id] = reason, leases.hold(run_id)
        logs = log.read_many(claimed) if claimed else {}  # every claimed run's log in one read
        for run_id, reason in claimed.items():
            logger.info("worker %s: driving run %s (%s)", self.name, run_id, reason, extra=about(run_id))
            self._start(loop, leases, run_id, logs.get(run_id))
        return list(claimed)

    def _start(self, loop: RunLoop, leases: LeaseGroup, run_id: str, events: list[Event] | None) -> None:
        """Prepare a claimed run from its log and add it to the loop (a run that has ended is
        settled)."""
        try:
            prepared = self.engine.prepare_claimed(
                run_id, self._leases[run_id], reason=self._reasons[run_id], events=events
            )
        except Exception as exc:
            self._finish(run_id, leases, exc)
            return
        if isinstance(prepared, RunToDrive):
            loop.add(prepared)
        else:
            self._finish(run_id, leases, None)

    def _ended(self, ended: list[DriveEnded], leases: LeaseGroup) -> None:
        """Claimed runs' drives ended: give back the leases of those that ended well in one
        statement, then settle each."""
        leases.let_go(*(self._leases.pop(end.run_id) for end in ended if end.error is None), ended_well=True)
        for end in ended:
            self._finish(end.run_id, leases, end.error)

    def _finish(self, run_id: str, leases: LeaseGroup, error: Exception | None) -> None:
        """A claimed run's drive ended: give its lease back (or let it lapse after a
        failure) unless given back already, then note how it went."""
        reason = self._reasons.pop(run_id)
        if run_id in self._leases:
            leases.let_go(self._leases.pop(run_id), ended_well=error is None)
        if isinstance(error, AppendConflict | LeaseLost):  # another driver has it: not ours to mark
            logger.warning(
                "worker %s: lost run %s to another writer: %s", self.name, run_id, error, extra=about(run_id)
            )
        elif error is not None:  # whatever happened, the worker goes on with other runs
            self._failed(run_id, error)
        else:
            self.backoff.forget(run_id)
        self.driven(run_id, reason)

    def _close_loop(self, loop: RunLoop, leases: LeaseGroup) -> None:
        """Let go of the runs still driven (their leases lapse: another worker resumes them)."""
        loop.close()
        self._reasons.clear()
        leases.let_go(*self._leases.values(), ended_well=False)
        self._leases.clear()

    def _keep_beating(self) -> None:
        """Background thread: heartbeat every poll interval, idle or driving runs."""
        while not self._stop.wait(self.poll_interval):
            self._beat()

    def _beat(self, runs_driven: int = 0) -> None:
        try:
            self.registry.heartbeat(self.name, runs_driven, in_flight=self.driving)
        except LedgerflowError:
            logger.warning("worker %s: heartbeat failed", self.name, exc_info=True)

    def _failed(self, run_id: str, exc: Exception) -> None:
        if not isinstance(exc, LedgerflowError):
            logger.debug(
                "worker %s: driving run %s raised", self.name, run_id, exc_info=True, extra=about(run_id)
            )
        error = f"{type(exc).__name__}: {exception_text(exc)}"
        if is_repeatable(exc) and (done := self._give_up(run_id, error)) is not None:
            self.backoff.forget(run_id)
            logger.error(
                "worker %s: run %s cannot be resumed as it is (%s): %s",
                self.name,
                run_id,
                error,
                done,
                extra=about(run_id),
            )
            return
        wait = self.backoff.failed(run_id)
        logger.error(
            "worker %s: driving run %s failed (%s); skipping it for %g s",
            self.name,
            run_id,
            error,
            wait,
            extra=about(run_id),
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
            logger.warning(
                "worker %s: could not record run %s as crashed",
                self.name,
                run_id,
                exc_info=True,
                extra=about(run_id),
            )
            return None
        return f"recorded it CRASHED; fix the cause, then `ledgerflow resume {run_id}`"
