"""Cancellation: noticing a cancel request or a run's timeout, and recording the cancel.

A request from another process is a row of ``cancel_requests`` (see
``storage.cancel_requests``), never an append to the run's log: the driver owns the log.
The driver polls the rows of its runs (``CancelPoll``) and tells its machine, which records
``run.cancel_requested``, has the executor cancel the run's work, records
``task.cancelled`` for every task that did not finish and ends the run with
``run.cancelled`` (``engine.core.machine``). A run nobody drives is cancelled by the
requester itself, after taking its lease (``Canceller``).
"""

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from ..storage.errors import AppendConflict, StorageError
from ..storage.protocols import CancelRequests, CancelSource, ConcurrencyLimits, LeasedLog
from ..storage.records import CancelRequest
from .core.cancelling import CancelEvent, closing_events, reason_of
from .core.events import EventType, NewEvent
from .core.fold import Folder, RunView, fold
from .core.states import RunState

logger = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 0.5
"""A driver reads its run's cancel request at most this often."""
CANCEL_GRACE_SECONDS = 10.0
"""How long a cancelling driver waits for running attempts to stop before abandoning them."""
WAIT_POLL_SECONDS = 0.2
"""How often ``Canceller.cancel(wait=True)`` looks at the run again."""


def request_payload(request: CancelRequest) -> dict[str, Any]:
    """The payload of the ``run.cancel_requested`` that records ``request``."""
    return {
        "reason": request.reason,
        "requested_by": request.requested_by,
        "requested_at": request.requested_at.isoformat(timespec="microseconds"),
    }


class CancelPoll:
    """Reads the requests to cancel a loop's runs from their source, all in one query, at
    most every ``CANCEL_POLL_SECONDS`` (the runs' timeouts are their machines' to notice)."""

    def __init__(self, source: CancelSource | None) -> None:
        self._source = source
        self._polled_at = time.monotonic()  # of the last read of every run (runs joining are read at once)

    def wait(self, monotonic: float) -> float | None:
        """How long a blocked loop may wait before it must read the source again."""
        if self._source is None:
            return None
        return max(0.0, self._polled_at + CANCEL_POLL_SECONDS - monotonic)

    def poll(
        self, run_ids: Collection[str], joined: Collection[str], monotonic: float
    ) -> dict[str, dict[str, Any]]:
        """The ``run.cancel_requested`` payloads of the standing requests, by run id: of every
        run of ``run_ids`` when it is time, else of those that ``joined`` since the last poll."""
        if self._source is None:
            return {}
        wanted = joined
        if monotonic - self._polled_at >= CANCEL_POLL_SECONDS:
            self._polled_at, wanted = monotonic, run_ids
        if not wanted:
            return {}
        try:
            requests = self._source.get_many(wanted)
        except StorageError as exc:  # the database is away: the next poll tries again
            logger.warning("could not read the cancel requests of %d runs: %s", len(wanted), exc)
            return {}
        return {run_id: request_payload(request) for run_id, request in requests.items()}


def discard_request(source: CancelSource | None, run_id: str) -> None:
    """The run has ended (or restarts): its request, if any, is settled."""
    if source is None:
        return
    try:
        source.discard(run_id)
    except StorageError as exc:
        logger.warning("run %s: could not delete its cancel request: %s", run_id, exc)


@dataclass(frozen=True, slots=True)
class CancelReport:
    """How a cancel went: the run's state when ``cancel`` returned."""

    run_id: str
    state: RunState
    was_finished: bool  # the run had already ended before the request was made

    @property
    def is_cancelled(self) -> bool:
        """True if the run ended CANCELLED."""
        return self.state is RunState.CANCELLED


class Canceller:
    """Asks for runs to be cancelled, and cancels runs that no live driver holds itself."""

    def __init__(
        self,
        log: LeasedLog,
        requests: CancelRequests,
        limits: ConcurrencyLimits,
        owner: str,
        ttl: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._log = log
        self._requests = requests
        self._limits = limits
        self._owner = owner
        self._ttl = ttl
        self._sleep = sleep

    def cancel(self, run_id: str, reason: str | None = None, wait: bool = False) -> CancelReport:
        """Request the cancel of ``run_id`` (``RunNotFound`` if unknown); with ``wait``,
        return once the run has ended (CANCELLED, or otherwise if it finished first)."""
        state = RunState(self._log.run(run_id).state)
        if state.is_terminal:
            return CancelReport(run_id, state, was_finished=True)
        self._requests.request(run_id, self._owner, reason)
        state = self._cancel_if_undriven(run_id)
        while wait and not state.is_terminal:
            self._sleep(WAIT_POLL_SECONDS)
            state = self._cancel_if_undriven(run_id)
        return CancelReport(run_id, state, was_finished=False)

    def _cancel_if_undriven(self, run_id: str) -> RunState:
        """Cancel the run here if no live driver holds it; the run's state after."""
        state = RunState(self._log.run(run_id).state)
        if state.is_terminal or not self._requests.claim_undriven(run_id, self._owner, self._ttl):
            return state
        try:
            view = self._append_cancel(fold(self._log.read(run_id)))
        except AppendConflict:  # its driver was alive after all: it will see the request
            logger.info("run %s: a driver appended first; it cancels the run", run_id)
            return RunState(self._log.run(run_id).state)
        finally:
            self._log.release(run_id, self._owner)
        if view.state.is_terminal:
            self._requests.discard(run_id)
        return view.state

    def _append_cancel(self, view: RunView) -> RunView:
        if view.state.is_terminal:
            return view
        request = self._requests.get(view.run_id)
        if view.cancel_request is not None:
            payload = dict(view.cancel_request)
        elif request is not None:
            payload = request_payload(request)
        else:  # the request was settled meanwhile by a driver that since died
            payload = {"reason": None, "requested_by": self._owner}
        batch: list[CancelEvent] = []
        if view.cancel_request is None:
            batch.append((None, EventType.RUN_CANCEL_REQUESTED, payload))
        batch += closing_events(view, reason_of(payload))
        new = [NewEvent(key, type_.value, body) for key, type_, body in batch]
        appended = self._log.append(view.run_id, view.seq, new, owner=self._owner)
        self._limits.release_run(view.run_id)  # slots its dead driver may still hold
        logger.info("run %s: cancelled by %s (no live driver)", view.run_id, self._owner)
        return Folder(view).apply_all(appended).view()
