"""Text a task attempt produced (output, error messages, tracebacks, reasons), made fit to
store and to show: valid UTF-8, and secrets masked on the console.

Python text may hold lone surrogates (``os.listdir`` decodes an undecodable byte of a
file name as ``\\udce9``); UTF-8 cannot encode them, so neither the database nor JSON
takes them. They are written as the escape Python would print (``\\udce9``), readable
and reversible by eye.
"""

import re
from collections.abc import Iterable

MASK = "***"
"""What a secret's text is shown as (as in the log's redaction)."""


def readable_text(text: str) -> str:
    """``text`` with every lone surrogate written as its backslash escape: valid UTF-8."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def exception_text(exc: BaseException) -> str:
    """``str(exc)`` as readable text; a placeholder if the exception cannot say itself."""
    try:
        return readable_text(str(exc))
    except Exception:  # a broken __str__ is the task's bug, not a reason to lose the outcome
        return f"<{type(exc).__qualname__}: str() failed>"


class Masker:
    """Replaces each of some texts (the longest first) by ``MASK``."""

    def __init__(self, texts: Iterable[str]) -> None:
        ordered = sorted({text for text in texts if text}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str) -> str:
        """``text`` with the texts masked."""
        return text if self._pattern is None else self._pattern.sub(MASK, text)
