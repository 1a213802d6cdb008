"""The runtime loop: drives any number of runs on one executor, in one thread, until each
has ended; runs may join while others are being driven.

Each step waits for the attempts and hook deliveries of all its runs at once (after the
first it takes those that end within a short window), tells each run's host what ended,
wakes the runs whose time has come, and reads the cancel requests of all its runs in one
query. The rounds its runs end are written together: every run's events in one transaction
(a group commit, ``flush_many``), then each run's attempts are submitted. A run whose drive
fails (its lease lost, a conflict, the database away for too long, a bug) ends alone: the
loop reports it and goes on with the others.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..cancel import CancelPoll
from ..core.fold import RunView
from ..log_context import in_run
from ..recorder import flush_many
from . import collector_pace
from .completions import Completions
from .host import HookPool, RunHost
from .runs import RunPorts, RunToDrive, host_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DriveEnded:
    """A run the loop stopped driving: its final state, or the error that ended its drive."""

    run_id: str
    view: RunView
    error: Exception | None = None


class RunLoop:
    """Drives runs on one executor in the calling thread; ``add`` a run, then ``step``."""

    def __init__(self, ports: RunPorts) -> None:
        collector_pace.pace()  # until ``close``: a drive makes many small objects
        self._ports = ports
        self._completions: Completions[RunHost] = Completions()
        self._hook_pool = HookPool()
        self._hosts: dict[RunHost, None] = {}  # the runs being driven, in the order they came
        self._ended: list[DriveEnded] = []
        self._cancels = CancelPoll(ports.cancels)
        self._joined: list[str] = []  # runs that ran before, whose cancel requests were not read yet

    @property
    def active(self) -> int:
        """How many runs are being driven."""
        return len(self._hosts)

    def add(self, run: RunToDrive) -> None:
        """Start driving a run; a run that cannot start ends at once (see ``step``)."""
        host = host_for(run, self._ports, self._completions, self._hook_pool)
        self._hosts[host] = None
        if host.machine.live_view().seq > 1:  # a new run has no request yet: the next poll reads it
            self._joined.append(host.run_id)
        self._guarded(host, host.start, run.reason, run.reopen)

    def wake(self) -> None:
        """From another thread: end the current ``step``'s wait now."""
        self._completions.wake()

    def step(self, max_wait: float | None = None) -> list[DriveEnded]:
        """Drive every run until something ended or came due, waiting at most ``max_wait``
        seconds (None: as long as a run needs); the runs that ended meanwhile."""
        self._commit()  # the first rounds of the runs added since the last step
        self._poll(time.monotonic())
        if self._hosts:
            monotonic, now = time.monotonic(), self._ports.clock.now()
            waits = [wait for host in self._hosts if (wait := host.timeout(now, monotonic)) is not None]
            if (poll := self._cancels.wait(monotonic)) is not None:
                waits.append(poll)
            if max_wait is not None:
                waits.append(max_wait)
            ended: dict[RunHost, list[Any]] = {}
            in_flight = sum(host.machine.in_flight for host in self._hosts)
            for host, result in self._completions.take(min(waits) if waits else None, more=in_flight // 2):
                ended.setdefault(host, []).append(result)
            now = self._ports.clock.now()
            for host in list(self._hosts):
                if host in ended or host.is_due(now):
                    self._guarded(host, host.completed, ended.get(host, ()))
            self._commit()
        elif max_wait:
            self._completions.take(max_wait)  # nothing to drive: wait to be woken
        done, self._ended = self._ended, []
        return done

    def hand_back(self, reason: str) -> list[DriveEnded]:
        """Stop driving every run still RUNNING for another driver to continue it, recording
        why (``reason``); the runs handed back (a run whose end is recorded, settling its
        hooks, stays)."""
        for host in list(self._hosts):
            self._guarded(host, host.hand_back, reason)
        self._commit()  # their last events (``run.handed_back``) are written before they go
        done, self._ended = self._ended, []
        return done

    def close(self) -> None:
        """Stop driving: every run still driven is let go of as it stands (its next driver
        resumes it from its log), and the hook threads stop."""
        try:
            for host in list(self._hosts):
                try:
                    self._let_go(host, None)
                except Exception:
                    logger.warning("run %s: could not let go of it cleanly", host.run_id, exc_info=True)
            self._hook_pool.close()
        finally:
            collector_pace.unpace()

    def _poll(self, monotonic: float) -> None:
        """Hand each run its cancel request (read for all runs in one query when due, and for
        the runs that joined at once), or the end of a cancel's grace."""
        joined, self._joined = self._joined, []
        cancellable = [host.run_id for host in self._hosts if host.is_cancellable]
        requests = self._cancels.poll(cancellable, joined, monotonic)
        for host in list(self._hosts):
            self._guarded(host, host.poll, monotonic, requests.get(host.run_id))
        self._commit()

    def _commit(self) -> None:
        """Write the rounds the runs ended, all in one transaction, then let each host go on
        (submit, decide); again while that ends more rounds."""
        while ready := [host for host in self._hosts if host.is_round_ended]:
            flushed = flush_many([host.recorder for host in ready], self._ports.log, self._ports.results)
            for host, outcome in zip(ready, flushed, strict=True):
                self._guarded(host, host.written, outcome)

    def _guarded(self, host: RunHost, action: Callable[..., None], *args: Any) -> None:
        """Carry out one host's action; its run ends if it finished (and its last events are
        written) or the action failed."""
        if host not in self._hosts:
            return
        try:
            in_run(host.run_id, action, *args)  # its log records name the run
        except Exception as exc:
            logger.debug("run %s: its drive failed", host.run_id, exc_info=True)
            self._let_go(host, exc)
            return
        if host.finished is not None and not host.is_round_ended:
            self._let_go(host, None)

    def _let_go(self, host: RunHost, error: Exception | None) -> None:
        del self._hosts[host]
        try:
            host.close(error)
        finally:
            self._ended.append(DriveEnded(host.run_id, host.machine.view(), error))
