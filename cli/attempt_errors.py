"""The error of every task attempt that raised (retried or final), read from a run's events,
for ``show`` and ``logs``: whole messages, wrapped at spaces, never cut mid-word."""

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text

from ..engine.core.events import Event, EventType

MESSAGE_CHARS = 2_000
"""A longer message is shortened at a space before this many characters."""
MAX_ROWS = 50
"""The most attempts a table lists (a failing map may have thousands)."""
_ENDINGS = {EventType.TASK_RETRYING.value: "retried", EventType.TASK_FAILED.value: "failed"}


@dataclass(frozen=True, slots=True)
class AttemptError:
    """What one attempt of a task raised, and whether it was ``retried`` or ``failed`` the task."""

    task_key: str
    attempt: int | None
    type: str
    message: str
    ending: str


def attempt_errors(events: Sequence[Event], task_key: str | None = None) -> list[AttemptError]:
    """Each attempt's error in log order (of ``task_key`` only, if given)."""
    found = []
    for event in events:
        ending = _ENDINGS.get(event.type)
        if ending is None or event.task_key is None or task_key not in (None, event.task_key):
            continue
        error = event.payload.get("error") or {}
        attempt = event.payload.get("attempt")
        found.append(AttemptError(
            event.task_key, attempt if isinstance(attempt, int) else None,
            str(error.get("type", "?")), readable(str(error.get("message", ""))), ending,
        ))  # fmt: skip
    return found


def readable(message: str, limit: int = MESSAGE_CHARS) -> str:
    """``message`` stripped; a longer one shortened at a space (or line end), with an ellipsis."""
    text = message.strip()
    if len(text) <= limit:
        return text
    cut = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit))
    return text[: cut if cut > 0 else limit].rstrip() + " …"


def attempt_error_table(errors: Sequence[AttemptError], limit: int = MAX_ROWS) -> Table | None:
    """One row per attempt that raised: task, attempt, retried or failed, error and message."""
    if not errors:
        return None
    table = Table(title="errors", title_justify="left")
    table.add_column("task", no_wrap=True)
    table.add_column("attempt", justify="right", no_wrap=True)
    table.add_column("then", no_wrap=True)
    table.add_column("error", style="red", no_wrap=True)
    table.add_column("message", overflow="fold")
    for error in errors[:limit]:
        cells = (Text(error.task_key), _attempt(error), error.ending, Text(error.type), Text(error.message))
        table.add_row(*cells)
    if len(errors) > limit:
        table.add_row(f"… {len(errors) - limit} more", "", "", "", "")
    return table


def error_line(error: AttemptError) -> str:
    """``attempt 1 raised builtins.ValueError (retried): message``."""
    return f"attempt {_attempt(error)} raised {error.type} ({error.ending}): {error.message}"


def _attempt(error: AttemptError) -> str:
    return "?" if error.attempt is None else str(error.attempt)
