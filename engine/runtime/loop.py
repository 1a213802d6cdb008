"""The runtime loop: drives any number of runs on one executor, in one thread, until each
has ended; runs may join while others are being driven.

Each step waits for the attempts and hook deliveries of all its runs at once (group
commits: after the first it takes those that end within a short window), tells each run's
host what ended, wakes the runs whose time has come, and looks for cancel requests. A run
whose drive fails (its lease lost, the database away for too long, a bug) ends alone: the
loop reports it and goes on with the others.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.fold import RunView
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
        self._ports = ports
        self._completions: Completions[RunHost] = Completions()
        self._hook_pool = HookPool()
        self._hosts: dict[RunHost, None] = {}  # the runs being driven, in the order they came
        self._ended: list[DriveEnded] = []

    @property
    def active(self) -> int:
        """How many runs are being driven."""
        return len(self._hosts)

    def add(self, run: RunToDrive) -> None:
        """Start driving a run; a run that cannot start ends at once (see ``step``)."""
        host = host_for(run, self._ports, self._completions, self._hook_pool)
        self._hosts[host] = None
        self._guarded(host, host.start, run.reason, run.reopen)

    def wake(self) -> None:
        """From another thread: end the current ``step``'s wait now."""
        self._completions.wake()

    def step(self, max_wait: float | None = None) -> list[DriveEnded]:
        """Drive every run until something ended or came due, waiting at most ``max_wait``
        seconds (None: as long as a run needs); the runs that ended meanwhile."""
        monotonic = time.monotonic()
        for host in list(self._hosts):
            self._guarded(host, host.poll, monotonic)
        if self._hosts:
            now = self._ports.clock.now()
            waits = [wait for host in self._hosts if (wait := host.timeout(now, monotonic)) is not None]
            if max_wait is not None:
                waits.append(max_wait)
            ended: dict[RunHost, list[Any]] = {}
            for host, result in self._completions.take(min(waits) if waits else None):
                ended.setdefault(host, []).append(result)
            now = self._ports.clock.now()
            for host in list(self._hosts):
                if host in ended or host.is_due(now):
                    self._guarded(host, host.completed, ended.get(host, ()))
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
        done, self._ended = self._ended, []
        return done

    def close(self) -> None:
        """Stop driving: every run still driven is let go of as it stands (its next driver
        resumes it from its log), and the hook threads stop."""
        for host in list(self._hosts):
            try:
                self._let_go(host, None)
            except Exception:
                logger.warning("run %s: could not let go of it cleanly", host.run_id, exc_info=True)
        self._hook_pool.close()

    def _guarded(self, host: RunHost, action: Callable[..., None], *args: Any) -> None:
        """Carry out one host's action; its run ends if it finished or the action failed."""
        if host not in self._hosts:
            return
        try:
            action(*args)
        except Exception as exc:
            logger.debug("run %s: its drive failed", host.run_id, exc_info=True)
            self._let_go(host, exc)
            return
        if host.finished is not None:
            self._let_go(host, None)

    def _let_go(self, host: RunHost, error: Exception | None) -> None:
        del self._hosts[host]
        try:
            host.close()
        finally:
            self._ended.append(DriveEnded(host.run_id, host.machine.view(), error))
