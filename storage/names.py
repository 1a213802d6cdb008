"""What the names people choose for concurrency-limit tags and schedules may hold.

Such a name is a path segment of the web UI and the API (``/api/limits/<tag>``,
``/api/schedules/<name>/pause``) and an argument on the command line, so it must mean the
same thing everywhere: 1 to ``MAX_NAME_LENGTH`` characters, no ``/`` or ``\\``, no control
or invisible format character (tab, newline, NUL, zero-width space...), no whitespace at
either end, and not ``.`` or ``..``. Everything else is allowed (inner spaces, dots, ``?``,
``#``, ``%``, letters of any script): URLs carry it percent-encoded.
"""

import unicodedata

from ..engine.core.errors import LedgerflowError

MAX_NAME_LENGTH = 255
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})  # control, format, line and paragraph separators


class InvalidName(LedgerflowError, ValueError):
    """A tag or schedule name that cannot be used (see the module docstring)."""

    def __init__(self, kind: str, name: object, reason: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(
            f"{kind} {name!r}: {reason} (a {kind} is 1 to {MAX_NAME_LENGTH} characters, without "
            "'/', '\\', control characters or whitespace at either end, and not '.' or '..')"
        )


def check_name(kind: str, name: object) -> None:
    """Raise ``InvalidName`` unless ``name`` may name a ``kind`` ("tag", "schedule name")."""
    if not isinstance(name, str):
        raise InvalidName(kind, name, f"it is a {type(name).__name__}, not a string")
    if not name:
        raise InvalidName(kind, name, "it is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(kind, name[:40] + "...", f"it has {len(name)} characters")
    if name in (".", ".."):
        raise InvalidName(kind, name, "a path segment of '.' or '..' would point elsewhere in URLs")
    if "/" in name or "\\" in name:
        raise InvalidName(kind, name, "it holds a slash, which would split it in URLs")
    if any(unicodedata.category(char) in _INVISIBLE for char in name):
        raise InvalidName(kind, name, "it holds a control or invisible character")
    if name != name.strip():
        raise InvalidName(kind, name, "it starts or ends with whitespace")


def check_limit(tag: str, limit: int) -> None:
    """Raise ``InvalidName`` unless ``tag`` may name a tag, and ``ValueError`` unless ``limit``
    is an int >= 0 (every store checks a limit it is given so)."""
    check_name("tag", tag)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"the limit of tag {tag!r} must be an integer >= 0 (0 pauses it), not {limit!r}")
