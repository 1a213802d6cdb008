"""How the pages show numbers, times, durations and hashes (Jinja2 filters)."""

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson

from ..engine.durations import format_duration


def duration(seconds: float | None) -> str:
    """``0.420s``, ``12.3s``, ``4m 05s``, ``2h 03m`` (as the CLI shows them); an em dash for None."""
    return "—" if seconds is None else format_duration(seconds)


def timestamp(moment: datetime | None) -> str:
    """A UTC time to the millisecond, ``2026-11-29 09:53:12.345``; an em dash for None."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def iso(moment: datetime | None) -> str:
    """An ISO-8601 UTC time (for forms and machine-readable attributes); empty for None."""
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def age(moment: datetime | None, now: datetime) -> str:
    """How long before ``now``: ``3.2 s ago``."""
    return "—" if moment is None else f"{duration(max((now - moment).total_seconds(), 0.0))} ago"


def number(value: int | float | None) -> str:
    """Thousands separated: ``10,000``."""
    return "—" if value is None else f"{value:,}"


def short_hash(value: str | None) -> str:
    """The first 12 hex digits of a hash."""
    return "" if value is None else value[:12]


def as_json(value: Any) -> str:
    """``value`` as indented JSON (non-JSON values by their repr)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS, default=repr).decode()


def compact_json(value: Any, limit: int = 160) -> str:
    """``value`` as one line of JSON, cut at ``limit`` characters."""
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=repr).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def segment(value: str) -> str:
    """``value`` as one URL path segment: every character but letters, digits and ``_.-~``
    percent-encoded, ``/`` too (Jinja's ``urlencode`` keeps it)."""
    return quote(value, safe="")


FILTERS = {
    "duration": duration,
    "timestamp": timestamp,
    "iso": iso,
    "number": number,
    "short_hash": short_hash,
    "as_json": as_json,
    "compact_json": compact_json,
    "segment": segment,
}
