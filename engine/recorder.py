"""A driver's record of its runs: the machines' events, written in group commits.

The machine decides on its folded state, including events not yet written; a flush
stores the task output and the results the events refer to, then appends the buffered
events, fenced by the driver's lease and owner. ``flush_many`` flushes the recorders of
many runs at once: their results in one write, their events in one transaction.
"""

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from ..executors.invocation import Outcome
from ..storage.errors import StorageError
from ..storage.protocols import EventLog, ResultStore, StoredResult, TaskLogSink
from ..storage.records import RunAppend, TaskLogLine
from .core.events import Event, NewEvent
from .lease import LeaseLost, RunLease

logger = logging.getLogger(__name__)

EventListener = Callable[[Sequence[Event]], None]


class RunRecorder:
    """Buffers a run's new events and appends them in batches after the run's head: ``seq``,
    and the hash and ts of its event (``head``; None if not known). A new run's recorder
    starts at seq 0 with its ``run.created`` buffered: its first flush creates the run, with
    the lease (``RunLease.ttl``) taken in the same transaction."""

    def __init__(
        self,
        *,
        run_id: str,
        seq: int,
        head: tuple[str, datetime] | None,
        log: EventLog,
        results: ResultStore,
        owner: str,
        lease: RunLease | None = None,
        task_logs: TaskLogSink | None = None,
        on_events: EventListener | None = None,
    ) -> None:
        self.run_id = run_id
        self._seq = seq
        self._head = head
        self._log = log
        self._results = results
        self._owner = owner
        self._lease = lease
        self._task_logs = task_logs
        self._on_events = on_events
        self._buffer: list[NewEvent] = []
        self._stored: dict[str, StoredResult] = {}  # results to put before the next append
        self._pending_logs: list[TaskLogLine] = []  # outcomes' output, written at the next flush
        self._releases = False  # the next batch gives the lease up

    @property
    def is_creating(self) -> bool:
        """Whether the run is still to be created by the next flush."""
        return self._seq == 0

    @property
    def lease_ttl(self) -> float | None:
        """For how long the flush that creates the run takes its lease (None: no lease)."""
        return None if self._lease is None else self._lease.ttl

    def release_with_next(self) -> None:
        """The run has ended and its driver appends nothing after the next flush: that batch
        gives the lease up in its own transaction (no release of its own afterwards; a batch
        that creates the run keeps it, released as usual)."""
        self._releases = self._lease is not None

    def buffer(self, events: Sequence[NewEvent]) -> None:
        """Events to append at the next flush, after those buffered before."""
        self._buffer.extend(events)

    def keep_result(self, stored: StoredResult) -> None:
        """A result to store before the event that refers to it is appended."""
        self._stored[stored.ref] = stored

    def pending_result(self, ref: str) -> StoredResult | None:
        """A result kept for the next flush (not in the result store yet)."""
        return self._stored.get(ref)

    def keep_logs(self, outcome: Outcome) -> None:
        """The attempt's captured output, written at the next flush."""
        if self._task_logs is None or not outcome.logs:
            return
        self._pending_logs.extend(
            TaskLogLine(
                self.run_id,
                outcome.task_key,
                outcome.attempt,
                seq,
                line.ts,
                line.stream,
                line.message,
                line.level,
                line.logger,
            )
            for seq, line in enumerate(outcome.logs)
        )

    def flush(self) -> list[Event]:
        """Store task output and pending results, then append the buffered events in one
        transaction; returns the appended events (none if nothing was buffered)."""
        flushed = flush_many([self], self._log, self._results)[0]
        if isinstance(flushed, Exception):
            raise flushed
        return flushed

    def take(self) -> tuple[RunAppend, list[StoredResult]] | None:
        """Write the task output kept; hand over the buffered events as a batch fenced by
        this driver (its lease checked: ``LeaseLost``) with the results they refer to, to
        be stored first. None if nothing was buffered."""
        self._flush_logs()
        if not self._buffer:
            return None
        lease = self._lease
        releases = self._releases and not self.is_creating
        if lease is not None:
            lease.check()
            if releases:
                lease.is_held = False  # no heartbeat renews it meanwhile
        batch = RunAppend(
            self.run_id, self._seq, self._buffer, owner=self._owner, head=self._head, release=releases
        )
        stored = list(self._stored.values())
        self._buffer, self._stored = [], {}
        return batch, stored

    def refused(self) -> None:
        """The batch taken last was not appended: a lease to go with it is still held (one to
        be taken with it is not)."""
        if self._lease is not None and not self.is_creating:
            self._lease.is_held = True

    def appended(self, events: list[Event]) -> None:
        """The batch taken last is in the log as ``events``."""
        if not events:
            return
        if self.is_creating and self._lease is not None:
            self._lease.is_held = True
        last = events[-1]
        self._seq, self._head = last.seq, (last.hash, last.ts)
        if self._on_events is not None:
            self._on_events(events)

    def _flush_logs(self) -> None:
        """Write the outcomes' output in one batch. Before the append: no event refers to it,
        and the output of an attempt whose completion a crash lost is still kept."""
        if not self._pending_logs or self._task_logs is None:
            return
        lines, self._pending_logs = self._pending_logs, []
        try:
            self._task_logs.put_logs(lines)
        except StorageError as exc:  # operational data: losing it must not stop the run
            logger.warning("run %s: dropped %d captured log lines: %s", self.run_id, len(lines), exc)


Flushed = list[Event] | Exception
"""What became of one recorder's flush: the events appended, or the error that refused them."""


def flush_many(recorders: Sequence[RunRecorder], log: EventLog, results: ResultStore) -> list[Flushed]:
    """Flush many runs' recorders in one group commit: the results their events refer to in
    one write, then every batch in one transaction (``EventLog.append_many``). Per recorder,
    in order: the events appended, or the error that refused its batch (its lease lost, a
    conflict: that run alone; the write failed: every run of the group)."""
    flushed: list[Flushed] = [[] for _ in recorders]
    taken: list[tuple[int, RunAppend]] = []
    stored: list[StoredResult] = []
    for index, recorder in enumerate(recorders):
        try:
            batch = recorder.take()
        except LeaseLost as exc:
            flushed[index] = exc
            continue
        if batch is not None:
            taken.append((index, batch[0]))
            stored += batch[1]
    if not taken:
        return flushed
    try:
        if stored:
            results.put_many(stored)
        appended = _append_taken(log, [(recorders[index], batch) for index, batch in taken])
    except Exception as exc:  # the group's write failed: so did each of its runs' drives
        appended = [exc] * len(taken)
    for (index, _), outcome in zip(taken, appended, strict=True):
        if isinstance(outcome, list):
            recorders[index].appended(outcome)
        else:
            recorders[index].refused()
        flushed[index] = outcome
    return flushed


def _append_taken(log: EventLog, taken: Sequence[tuple[RunRecorder, RunAppend]]) -> list[Flushed]:
    """Append the batches: those after a head in one transaction, each creating a run alone
    (with its lease); the outcome of each, in order."""
    appended: list[Flushed] = []
    group = [batch for _, batch in taken if batch.expected_seq > 0]
    grouped = iter(log.append_many(group) if group else ())
    for recorder, batch in taken:
        if batch.expected_seq > 0:
            appended.append(next(grouped))
            continue
        try:
            appended.append(log.append(batch.run_id, 0, batch.events, batch.owner, recorder.lease_ttl))
        except StorageError as exc:
            appended.append(exc)
    return appended
