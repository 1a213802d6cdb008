"""Hash-chain verification: re-derive every hash from the stored fields and report the first break.

Verification never raises for a tampered log: it returns a ``VerifyReport`` whose
``first_bad_seq`` is the exact seq where the chain stops holding (the missing seq of a
deleted row, the seq of an edited, inserted or moved row, the first seq of a deleted
tail when the expected head is known, the first rewritten seq against a checkpoint).
"""

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from ..storage.codec import GENESIS_HASH, ChainHasher
from ..storage.errors import PayloadNotJSON
from ..storage.protocols import EventRow
from .checkpoint import Checkpoint, InvalidCheckpoint
from .result_check import ResultsReport
from .stored import Source, event_log


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of verifying one run's chain (and, if asked, its stored results)."""

    ok: bool
    first_bad_seq: int | None
    reason: str | None
    events_checked: int
    results: ResultsReport | None = None  # None: the stored results were not re-hashed

    @property
    def chain_holds(self) -> bool:
        """Whether the hash chain holds (``ok`` also needs the stored results, if checked)."""
        return self.reason is None


def with_results(report: VerifyReport, checked: ResultsReport) -> VerifyReport:
    """``report`` with the re-hash of the run's stored results: not ok if one failed."""
    return replace(report, ok=report.ok and checked.ok, results=checked)


class ChainCheck:
    """Re-hashes one run's rows fed in stored order, and stops at the first break.

    With a checkpoint, every seq whose hash it knows must have that hash, and the chain
    must reach its seq.
    """

    __slots__ = ("_checkpoint", "_expected", "_failure", "_hasher", "_known", "_prev_hash")

    def __init__(self, run_id: str, checkpoint: Checkpoint | None = None) -> None:
        self._checkpoint = checkpoint
        self._known = checkpoint.expected_hashes() if checkpoint is not None else None
        self._hasher = ChainHasher(run_id)
        self._prev_hash = GENESIS_HASH
        self._expected = 1
        self._failure: VerifyReport | None = None

    def feed(self, rows: Iterable[EventRow]) -> bool:
        """Check the run's next ``rows``; False once the chain is broken (later rows are ignored)."""
        if self._failure is not None:
            return False
        hasher, known = self._hasher, self._known
        prev_hash, expected = self._prev_hash, self._expected
        for seq, task_key, type_, payload, ts, row_prev_hash, digest in rows:
            if seq != expected:
                kind = "missing (deleted, or rows out of order)" if seq > expected else "out of order"
                return self._break(expected, expected, f"seq {expected} is {kind}: found seq {seq} there")
            if row_prev_hash != prev_hash:
                return self._break(expected, seq, "prev_hash does not link to the previous event's hash")
            try:
                computed = hasher.hash(prev_hash, seq, task_key, type_, payload, ts)
            except (ValueError, TypeError, AttributeError, PayloadNotJSON) as exc:
                return self._break(expected, seq, f"a field cannot be encoded ({exc})")
            if computed != digest:
                return self._break(expected, seq, "the hash does not match the stored fields (edited row)")
            if known is not None and known.get(seq, digest) != digest:
                return self._break(expected, seq, self._rewritten(seq))
            prev_hash, expected = digest, seq + 1
        self._prev_hash, self._expected = prev_hash, expected
        return True

    def fail(self, reason: str) -> None:
        """Record a break at the next expected seq, found outside the rows (an unreadable line)."""
        if self._failure is None:
            self._break(self._expected, self._expected, reason)

    def report(self, head: tuple[int, str] | None = None) -> VerifyReport:
        """The outcome; ``head`` is the (seq, hash) the log must end at (the read model's
        head, or an export's checkpoint): without it a deleted tail cannot be seen."""
        if self._failure is not None:
            return self._failure
        last_seq = self._expected - 1
        if self._checkpoint is not None and last_seq < self._checkpoint.seq:
            return self._bad(
                last_seq + 1,
                f"seqs {last_seq + 1}..{self._checkpoint.seq} are missing: the checkpoint "
                f"records seq {self._checkpoint.seq} (deleted tail)",
            )
        if head is not None:
            return self._check_head(head, last_seq)
        return VerifyReport(True, None, None, self._expected - 1)

    def _check_head(self, head: tuple[int, str], last_seq: int) -> VerifyReport:
        head_seq, head_hash = head
        if last_seq < head_seq:
            return self._bad(last_seq + 1, f"seqs {last_seq + 1}..{head_seq} are missing (deleted tail)")
        if last_seq > head_seq:
            return self._bad(head_seq + 1, f"seq {head_seq + 1} and after lie beyond the recorded head")
        if self._prev_hash != head_hash:
            return self._bad(head_seq, "the last hash differs from the recorded head hash")
        return VerifyReport(True, None, None, self._expected - 1)

    def _rewritten(self, seq: int) -> str:
        assert self._known is not None
        if seq == 1 or seq - 1 in self._known:
            return f"the hash differs from the checkpoint's: the chain was rewritten from seq {seq}"
        return f"the hash differs from the checkpoint's: the chain was rewritten at or before seq {seq}"

    def _bad(self, seq: int, reason: str) -> VerifyReport:
        return VerifyReport(False, seq, reason, self._expected - 1)

    def _break(self, checked_upto: int, seq: int, reason: str) -> bool:
        """Record the first break (seqs before ``checked_upto`` verified); returns False."""
        self._expected = checked_upto
        self._failure = self._bad(seq, reason)
        return False


class _Rows:
    """The rows of events of one run, up to the first event of another run (``stray``)."""

    def __init__(self, events: Iterable[Any]) -> None:
        self._events = iter(events)
        self.first = next(self._events, None)
        self.stray: Any = None

    def __iter__(self) -> Iterator[EventRow]:
        if self.first is None:
            return
        run_id = self.first.run_id
        for e in itertools.chain([self.first], self._events):
            if e.run_id != run_id:
                self.stray = e
                return
            yield e.seq, e.task_key, e.type, e.payload, e.ts, e.prev_hash, e.hash


def verify_events(
    events: Iterable[Any],
    head: tuple[int, str] | None = None,
    checkpoint: Checkpoint | None = None,
) -> VerifyReport:
    """Verify one run's events (``Event``s, or rows with the same fields) in stored order.

    ``head`` is the (seq, hash) the log is expected to end at (the read model's head, or
    an exported checkpoint); ``checkpoint`` is one the chain must pass through.
    """
    rows = _Rows(events)
    check = ChainCheck("" if rows.first is None else rows.first.run_id, checkpoint)
    check.feed(rows)
    if rows.stray is not None:
        check.fail(f"the row at seq {rows.stray.seq} belongs to run {rows.stray.run_id!r}")
    return check.report(head)


def verify_run(source: Source, run_id: str, checkpoint: Checkpoint | None = None) -> VerifyReport:
    """Stream a run's stored rows and verify them against the runs read model's head
    (and ``checkpoint``, e.g. from an earlier export).

    Raises ``RunNotFound`` only if the run has neither events nor a runs row, and
    ``InvalidCheckpoint`` for a checkpoint of another run.
    """
    if checkpoint is not None and checkpoint.run_id not in (None, run_id):
        raise InvalidCheckpoint(
            f"the checkpoint is of run {checkpoint.run_id}, not of run {run_id}"
        )
    check = ChainCheck(run_id, checkpoint)
    with event_log(source).read_rows(run_id) as stored:
        check.feed(stored.rows)
    report = check.report(stored.head)
    if stored.head is None and report.ok:
        return VerifyReport(
            False, None, "the run has events but no runs row (rebuild the read model)",
            report.events_checked,
        )
    return report


def verify_all(source: Source) -> dict[str, VerifyReport]:
    """Verify every run in the database (in the runs table or only in events), by run id."""
    log = event_log(source)
    return {run_id: verify_run(log, run_id) for run_id in log.run_ids()}
