"""What an append does, whichever backend stores it: the checks of a batch and of the run's
head, the hash chain its events get, and the changes of the run's summary (the runs read
model)."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from ..engine.core.events import Event, EventType, NewEvent, entered_run_state, enters_run_state
from .cache_entries import cache_fields_problem
from .codec import ChainHasher, canonical_payload
from .errors import AppendConflict, InvalidAppend, StorageError
from .records import RunAppend
from .run_slots import recorded_columns

_EVENT_TYPES = frozenset(t.value for t in EventType)
_RUN_CREATED, _TASK_SUCCEEDED = EventType.RUN_CREATED.value, EventType.TASK_SUCCEEDED.value


def check_batch(run_id: str, expected_seq: int, events: Sequence[NewEvent]) -> None:
    """Raise ``InvalidAppend`` for a batch no backend may store (nothing is written)."""
    if not run_id or len(run_id) > 64:
        raise InvalidAppend(run_id, "a run id must have 1 to 64 characters")
    if expected_seq < 0:
        raise InvalidAppend(run_id, f"expected_seq {expected_seq} is negative")
    if expected_seq == 0 and events[0].type != EventType.RUN_CREATED:
        raise InvalidAppend(run_id, f"a new run must start with run.created, not {events[0].type}")
    for position, new in enumerate(events):
        if new.type not in _EVENT_TYPES:
            raise InvalidAppend(run_id, f"unknown event type {new.type!r}")
        if new.type == _RUN_CREATED and (expected_seq > 0 or position > 0):
            raise InvalidAppend(run_id, "run.created may only be the run's first event")
        if new.ts is not None and new.ts.utcoffset() is None:
            raise InvalidAppend(run_id, f"event {position + 1} of the batch has a naive ts")
        if new.type == _TASK_SUCCEEDED and (problem := cache_fields_problem(new.payload)):
            raise InvalidAppend(run_id, f"event {position + 1} of the batch ({new.task_key}): {problem}")


@dataclass(frozen=True, slots=True)
class CheckedAppend:
    """A batch of an ``append_many`` that passed ``check_batch``, with its canonical payloads;
    ``index`` is its place in the call; ``head`` and ``release`` as the ``RunAppend`` gave them."""

    index: int
    run_id: str
    expected_seq: int
    events: list[NewEvent]
    payloads: list[bytes]
    owner: str | None
    head: tuple[str, datetime] | None = None
    release: bool = False

    @property
    def releases(self) -> str | None:
        """The owner that gives the run's lease up once the batch is appended (None: none)."""
        return self.owner if self.release else None


Appended = list[Event] | StorageError
"""What became of one batch of an ``append_many``: its events, or why it was refused."""


def check_appends(appends: Sequence[RunAppend]) -> tuple[list[CheckedAppend], dict[int, Appended]]:
    """The batches of an ``append_many`` to write, and the outcome of each other one by its
    index: nothing to write (empty), or refused before any write (malformed, not after an
    existing head, a second batch of one run, a payload that is not JSON)."""
    checked: list[CheckedAppend] = []
    settled: dict[int, Appended] = {}
    seen: set[str] = set()
    for index, append in enumerate(appends):
        run_id, batch = append.run_id, list(append.events)
        try:
            if append.expected_seq == 0:
                raise InvalidAppend(run_id, "append_many appends after a run's head; create runs with append")
            if run_id in seen:
                raise InvalidAppend(run_id, "two batches of one run in one append_many")
            if not batch:
                settled[index] = []
                continue
            check_batch(run_id, append.expected_seq, batch)
            payloads = [canonical_payload(new.payload) for new in batch]
        except StorageError as exc:
            settled[index] = exc
            continue
        seen.add(run_id)
        checked.append(
            CheckedAppend(
                index, run_id, append.expected_seq, batch, payloads, append.owner, append.head, append.release
            )
        )
    return checked, settled


def released_by_owner(appended: Iterable[CheckedAppend]) -> dict[str, list[str]]:
    """The runs whose leases the appended batches give up (``CheckedAppend.release``), by owner."""
    released: dict[str, list[str]] = {}
    for append in appended:
        if (owner := append.releases) is not None:
            released.setdefault(owner, []).append(append.run_id)
    return released


def check_head(run_id: str, expected_seq: int, head_seq: int, holder: str | None, owner: str | None) -> None:
    """Raise ``AppendConflict`` unless the run's log is at ``expected_seq`` (its head is at
    ``head_seq``) and, for an append fenced by ``owner``, ``owner`` is the lease ``holder``."""
    if head_seq != expected_seq:  # another writer appended first
        raise AppendConflict(
            run_id,
            expected_seq,
            f"run {run_id}: expected to append after seq {expected_seq} but the log is at "
            f"seq {head_seq}: another writer appended; stop driving this run "
            "(resume it to take it over)",
        )
    if owner is not None and holder != owner:  # the run was taken over, claimed or released
        raise AppendConflict(
            run_id,
            expected_seq,
            f"run {run_id}: driver {owner} no longer holds the run's lease "
            f"(now {holder or 'nobody'}): another process took the run over; "
            "this driver stops driving it",
        )


def chain_after(
    run_id: str, expected_seq: int, prev_hash: str, last_ts: datetime | None,
    events: Sequence[NewEvent], payloads: Sequence[bytes],
) -> tuple[list[Event], dict[str, Any]]:  # fmt: skip
    """The events as they will be stored after the run's head (``prev_hash``, stamped
    ``last_ts``; None for a new run), and the columns of the run's summary they change.

    Each event keeps the ts its writer stamped (the run machine folds with it), else the
    current time, never earlier than the head's: the ts of a run never go back.
    """
    now = datetime.now(UTC)
    ts = now if last_ts is None or now >= last_ts else last_ts
    chained = _chain(run_id, expected_seq + 1, prev_hash, ts, events, payloads)
    changes = run_changes((new.type, event.payload) for new, event in zip(events, chained, strict=True))
    return chained, changes


def _chain(
    run_id: str, first_seq: int, prev_hash: str, ts: datetime,
    events: Sequence[NewEvent], payloads: Sequence[bytes],
) -> list[Event]:  # fmt: skip
    """The events with their seqs and hashes chained from ``prev_hash`` (unstamped: ``ts``)."""
    hasher = ChainHasher(run_id)
    chained = []
    seq = first_seq
    for new, payload in zip(events, payloads, strict=True):
        stamp = ts if new.ts is None else new.ts.astimezone(UTC)
        digest = hasher.hash(prev_hash, seq, new.task_key, new.type, payload, stamp)
        fields = (run_id, seq, new.task_key, new.type, orjson.loads(payload), stamp, prev_hash, digest)
        chained.append(_new_event(Event, fields))
        prev_hash = digest
        seq += 1
    return chained


_new_event = tuple.__new__  # builds the named tuple without a Python-level __new__ call


def run_changes(events: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The runs-row columns that (type, payload) pairs of one run change, in order.

    run.created sets flow, state (its payload's "state", default PENDING), queue, priority
    and max_concurrent_runs (see ``storage.run_slots``); run.<x> sets state X; run.running
    also sets owner from its payload.
    """
    changes: dict[str, Any] = {}
    for event_type, payload in events:
        if event_type == "run.created":
            changes["flow"] = str(payload.get("flow") or "")
            changes["state"] = str(payload.get("state") or "PENDING")
            changes.update(recorded_columns(payload))
        elif event_type.startswith("run.") and enters_run_state(event_type):
            changes["state"] = entered_run_state(event_type).value
        else:
            continue  # a task event, or one that changes no state (a cancel request)
        if event_type == "run.running":
            owner = payload.get("owner")
            changes["owner"] = None if owner is None else str(owner)
    return changes
