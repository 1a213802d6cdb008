"""What a run's log says about the cache keys of its open attempts."""

from collections.abc import Iterable

from .events import Event, EventType

CacheNotes = dict[str, dict[str, str]]
"""Per task: ``{"cache_key": KEY}`` (looked up, missed: its success writes the entry) or
``{"cache": REASON}`` (no key for these inputs); ``{}``: not looked up."""
_NOTED = ("cache_key", "cache")
_KEEPS_NOTES = (EventType.TASK_RUNNING.value, EventType.TASK_RETRYING.value)


def recorded_cache_notes(events: Iterable[Event]) -> CacheNotes:
    """The cache notes of the tasks whose attempt is open (RUNNING or RETRYING) at the end of
    ``events``, as their last ``task.running`` recorded them: a resumed run's retry or
    orphaned attempt writes the cache entry its first attempt looked up."""
    notes: CacheNotes = {}
    for event in events:
        key = event.task_key
        if key is None:
            continue
        if event.type == EventType.TASK_RUNNING:
            noted = {name: str(event.payload[name]) for name in _NOTED if name in event.payload}
            if noted:
                notes[key] = noted
            else:
                notes.pop(key, None)
        elif event.type not in _KEEPS_NOTES:
            notes.pop(key, None)
    return notes
