"""A run's result as readable text: pretty, bounded, and cut only between whole items.

A value whose repr fits on one line is shown as it is. A larger dict, list or tuple is
shown over several lines, its items indented: as many whole items per line as fit when
each fits on a line, else one item per line, each shown the same way. At most
``max_lines`` lines: the items that do not fit are counted (``... (12 more)``), never cut
in the middle. A long text is cut at a space or comma, and says how long it was.
"""

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

WIDTH = 100
"""Characters per line (indentation included)."""
MAX_LINES = 30
KEY_CHARS = 48
"""At most this many characters of a dict key (a longer one is cut like a long text)."""
INDENT = "  "
_SEPARATORS = " ,;"


@dataclass(slots=True)
class _Lines:
    """The lines written so far, and how many there may be."""

    lines: list[str]
    limit: int

    def is_full(self, depth: int, extra: int = 0) -> bool:
        """True when no more item fits inside ``depth`` open containers: each may still
        need a "... (K more)" line and its closing bracket."""
        return len(self.lines) + 2 * depth + extra + 1 >= self.limit


def result_view(value: Any, *, width: int = WIDTH, max_lines: int = MAX_LINES) -> str:
    """``value`` as at most about ``max_lines`` lines of at most ``width`` characters."""
    out = _Lines([], max(max_lines, 5))
    _render(value, "", 0, out, width)
    return "\n".join(out.lines)


def _render(value: Any, head: str, depth: int, out: _Lines, width: int) -> None:
    """Append the lines of ``value``, the first after ``head`` (e.g. ``'ranking': ``)."""
    indent = INDENT * depth
    room = width - len(indent) - len(head) - (1 if depth else 0)  # an item is followed by ","
    compact = _compact(value, room)
    if compact is not None:
        out.lines.append(indent + head + compact)
        return
    container = _container(value)
    if container is None:
        _render_text(repr(value), indent + head, depth, out, width - (1 if depth else 0))
        return
    opening, closing, items = container
    first = list(itertools.islice(items, out.limit * width // 2))  # more never fit
    out.lines.append(indent + head + opening)
    inner = indent + INDENT
    packed = _pack(first, inner, width)
    if packed is not None:
        _append_packed(packed, len(value), inner, depth, out)
    else:
        for shown, (item_head, item) in enumerate(first):
            fits = _compact(item, width - len(inner) - len(item_head) - 1) is not None
            if out.is_full(depth + 1, 0 if fits else 2):  # a container shows one item at least
                out.lines.append(f"{inner}... ({len(value) - shown} more)")
                break
            _render(item, item_head, depth + 1, out, width)
            out.lines[-1] += ","
    out.lines.append(indent + closing)


def _pack(pairs: list[tuple[str, Any]], inner: str, width: int) -> list[list[str]] | None:
    """Whole items filling lines of ``width``, if every item fits on a line; else None."""
    room = width - len(inner)
    lines: list[list[str]] = []
    length = 0  # of the last line
    for head, item in pairs:
        compact = _compact(item, room - len(head) - 1)
        if compact is None:
            return None
        text = head + compact + ","
        if lines and length + 1 + len(text) <= room:
            lines[-1].append(text)
            length += 1 + len(text)
        else:
            lines.append([text])
            length = len(text)
    return lines


def _append_packed(lines: list[list[str]], total: int, inner: str, depth: int, out: _Lines) -> None:
    shown = 0
    for line in lines:
        if out.is_full(depth + 1):
            out.lines.append(f"{inner}... ({total - shown} more)")
            return
        out.lines.append(inner + " ".join(line))
        shown += len(line)


def _render_text(text: str, start: str, depth: int, out: _Lines, width: int) -> None:
    """A repr too long for its line: its first lines, each cut at a separator."""
    lines = text.splitlines() or [""]
    for shown, line in enumerate(lines):
        if shown and out.is_full(depth):
            out.lines.append(f"{INDENT * depth}... ({len(lines) - shown} more lines)")
            return
        prefix = start if shown == 0 else INDENT * depth
        out.lines.append(prefix + _cut(line, width - len(prefix)))


def _cut(text: str, room: int) -> str:
    """``text`` if it fits in ``room``, else cut at its last separator that leaves room
    for the count of characters left out."""
    if len(text) <= room:
        return text
    suffix = f" … ({len(text)} characters in all)"
    keep = max(room - len(suffix), 1)
    at = max(text.rfind(separator, 0, keep + 1) for separator in _SEPARATORS)
    kept = text[: at if at > 0 else keep].rstrip(_SEPARATORS)
    return kept + suffix


def _container(value: Any) -> tuple[str, str, Iterator[tuple[str, Any]]] | None:
    """The brackets and (head, item) pairs of a dict, list or tuple; None for other values."""
    if isinstance(value, Mapping) and value and type(value).__repr__ is dict.__repr__:
        return "{", "}", ((_cut(repr(key), KEY_CHARS) + ": ", item) for key, item in value.items())
    if isinstance(value, list) and value and type(value).__repr__ is list.__repr__:
        return "[", "]", (("", item) for item in value)
    if type(value) is tuple and value:
        return "(", ")", (("", item) for item in value)
    return None


def _compact(value: Any, room: int) -> str | None:
    """The one-line repr of ``value`` if it has at most ``room`` characters, else None
    (found without building the repr of a large container)."""
    container = _container(value)
    if container is None:
        plain = repr(value)
        return plain if len(plain) <= room and "\n" not in plain else None
    opening, closing, items = container
    parts: list[str] = []
    used = len(opening) + len(closing)
    for head, item in items:
        if parts:
            used += 2  # ", "
        text = _compact(item, room - used - len(head))
        if text is None:
            return None
        parts.append(head + text)
        used += len(parts[-1])
    trailing = "," if type(value) is tuple and len(parts) == 1 else ""
    text = opening + ", ".join(parts) + trailing + closing
    return text if len(text) <= room else None
