"""Times and durations as people type them (CLI options, web filters, schedule intervals):
pure parsing to UTC, bounded so that no value typed overflows a date or a database column.

Errors are ``ValueError``s whose message completes "<option> <text> ...";
``OutOfRange`` marks a well-formed value too large to be meant."""

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"(?P<amount>\d+)\s*(?P<unit>[dhms])")
_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
MAX_DAYS = 10_000
MAX_DURATION = timedelta(days=MAX_DAYS)
"""The longest duration accepted (about 27 years): far longer than any run's age, and its
seconds fit a 32-bit database column."""
EXAMPLE_TIME = "2026-11-29T03:15:00Z"


class OutOfRange(ValueError):
    """A well-formed time or duration too far out to be meant or computed."""


def is_duration(text: str) -> bool:
    """``text`` is spelled as a duration (``90d``, ``12h``), whatever its size."""
    return _DURATION.fullmatch(text.strip()) is not None


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m`` or ``45s`` (at most ``MAX_DURATION``) as a timedelta."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError("is not a duration: a number and a unit d, h, m or s (e.g. 90d, 12h)")
    digits = match["amount"].lstrip("0")
    seconds = int(digits or "0") * _SECONDS[match["unit"]] if len(digits) <= 12 else None
    if seconds is None or seconds > MAX_DURATION.total_seconds():
        raise OutOfRange(f"is too long: at most {MAX_DAYS}d (about 27 years)")
    return timedelta(seconds=seconds)


def parse_utc_time(text: str) -> datetime:
    """An ISO-8601 time in UTC (a naive one is read as UTC)."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise OutOfRange("is out of range: in UTC it falls outside the years 1 to 9999") from None


def time_or_age(text: str, now: datetime) -> datetime:
    """An ISO-8601 time (naive is UTC), or an age before ``now`` (``1d``, ``12h``)."""
    if is_duration(text):
        return now - parse_duration(text)
    try:
        return parse_utc_time(text)
    except OutOfRange:
        raise
    except ValueError:
        raise ValueError(
            f"is neither an ISO-8601 time (e.g. {EXAMPLE_TIME}) nor an age (a number and d, h, m "
            "or s, e.g. 1d)"
        ) from None
