"""The state of a run as it was at a given seq or time: fold a prefix of its log."""

from collections.abc import Sequence
from datetime import datetime

from ..engine.core.events import Event
from ..engine.core.fold import Folder, RunView


def state_at(
    events: Sequence[Event], seq: int | None = None, at: datetime | None = None
) -> RunView:
    """Fold the events with seq <= ``seq`` and ts <= ``at`` (both optional)."""
    if seq is not None and seq < 1:
        raise ValueError(f"seq must be >= 1 (a run starts at seq 1), got {seq}")
    if at is not None and at.tzinfo is None:
        raise ValueError("at must be a timezone-aware datetime (e.g. with tzinfo=UTC)")
    folder = Folder()
    folded = 0
    for event in events:
        if (seq is not None and event.seq > seq) or (at is not None and event.ts > at):
            break
        folder.apply(event)
        folded += 1
    if folded == 0:
        raise ValueError(f"run {events[0].run_id if events else '?'} has no events at that point")
    return folder.view()
