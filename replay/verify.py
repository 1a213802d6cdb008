"""Hash-chain verification: re-derive every hash from the stored fields and report the first break.

Verification never raises for a tampered log: it returns a ``VerifyReport`` whose
``first_bad_seq`` is the exact seq where the chain stops holding (the missing seq of a
deleted row, the seq of an edited, inserted or moved row, the first seq of a deleted
tail when the expected head is known).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from ..storage.codec import GENESIS_HASH, ChainHasher, canonical_payload
from ..storage.errors import PayloadNotJSON, RunNotFound
from ..storage.sql_log import SqlEventLog


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of verifying one run's chain."""

    ok: bool
    first_bad_seq: int | None
    reason: str | None
    events_checked: int


class _Storage(Protocol):
    @property
    def log(self) -> SqlEventLog: ...


def _bad(seq: int, reason: str, checked: int) -> VerifyReport:
    return VerifyReport(False, seq, reason, checked)


def _payload_bytes(payload: Any) -> bytes | None:
    """A row's payload as the bytes that were hashed (None if it is not encodable)."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    try:
        return canonical_payload(payload)
    except PayloadNotJSON:
        return None


def verify_events(events: Iterable[Any], head: tuple[int, str] | None = None) -> VerifyReport:
    """Verify one run's events (``Event``s or raw rows with a text payload) in stored order.

    ``head`` is the (seq, hash) the log is expected to end at (the read model's head,
    or an exported checkpoint): without it a deleted tail cannot be seen.
    """
    hasher: ChainHasher | None = None
    run_id: str | None = None
    prev_hash, expected, checked = GENESIS_HASH, 1, 0
    for event in events:
        seq = event.seq
        if hasher is None:
            run_id = event.run_id
            hasher = ChainHasher(event.run_id)
        if seq != expected:
            kind = "missing (deleted, or rows out of order)" if seq > expected else "out of order"
            return _bad(expected, f"seq {expected} is {kind}: found seq {seq} there", checked)
        if event.prev_hash != prev_hash:
            return _bad(seq, "prev_hash does not link to the previous event's hash", checked)
        payload = _payload_bytes(event.payload)
        if event.run_id != run_id or payload is None:
            return _bad(seq, "the row does not belong to this run's chain", checked)
        try:
            digest = hasher.hash(prev_hash, seq, event.task_key, event.type, payload, event.ts)
        except (ValueError, TypeError, AttributeError) as exc:
            return _bad(seq, f"a field cannot be encoded ({exc})", checked)
        if digest != event.hash:
            return _bad(seq, "the hash does not match the stored fields (edited row)", checked)
        prev_hash, expected, checked = digest, seq + 1, checked + 1
    if head is None:
        return VerifyReport(True, None, None, checked)
    return _check_head(head, expected - 1, prev_hash, checked)


def _check_head(head: tuple[int, str], last_seq: int, last_hash: str, checked: int) -> VerifyReport:
    head_seq, head_hash = head
    if last_seq < head_seq:
        return _bad(last_seq + 1, f"seqs {last_seq + 1}..{head_seq} are missing (deleted tail)", checked)
    if last_seq > head_seq:
        return _bad(head_seq + 1, f"seq {head_seq + 1} and after lie beyond the recorded head", checked)
    if last_hash != head_hash:
        return _bad(head_seq, "the last hash differs from the recorded head hash", checked)
    return VerifyReport(True, None, None, checked)


def verify_run(source: sa.Engine | _Storage | SqlEventLog, run_id: str) -> VerifyReport:
    """Read a run's stored rows leniently and verify them against the runs read model's head.

    Raises ``RunNotFound`` only if the run has neither events nor a runs row.
    """
    if isinstance(source, sa.Engine):
        log = SqlEventLog(source)
    elif isinstance(source, SqlEventLog):
        log = source
    else:
        log = source.log
    rows = log.read_raw(run_id)
    try:
        summary = log.run(run_id)
    except RunNotFound:
        return _no_head(rows)
    return verify_events(rows, (summary.head_seq, summary.head_hash))


def _no_head(rows: list[Any]) -> VerifyReport:
    report = verify_events(rows)
    if not report.ok:
        return report
    return VerifyReport(
        False,
        None,
        "the run has events but no runs row (rebuild the read model)",
        report.events_checked,
    )
