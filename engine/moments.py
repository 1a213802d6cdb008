"""Times and ages as people type them (CLI options, web filters): pure parsing to UTC."""

import re
from datetime import UTC, datetime, timedelta

_AGE = re.compile(r"(?P<amount>\d+)(?P<unit>[dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
EXAMPLE_TIME = "2026-11-29T03:15:00Z"


def parse_age(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m`` or ``45s`` as a timedelta; raises ``ValueError``."""
    match = _AGE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an age: a number and a unit d, h, m or s (e.g. 90d, 12h)")
    return timedelta(**{_UNITS[match["unit"]]: int(match["amount"])})


def parse_utc_time(text: str) -> datetime:
    """An ISO-8601 time in UTC (a naive one is read as UTC); raises ``ValueError``."""
    moment = datetime.fromisoformat(text.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def time_or_age(text: str, now: datetime) -> datetime:
    """An ISO-8601 time (naive is UTC), or an age before ``now`` (``1d``, ``12h``); raises
    ``ValueError`` whose message completes "<option> <text> ..."."""
    try:
        return now - parse_age(text)
    except ValueError:
        pass
    try:
        return parse_utc_time(text)
    except ValueError:
        raise ValueError(
            f"is neither an ISO-8601 time (e.g. {EXAMPLE_TIME}) nor an age (a number and d, h, m "
            "or s, e.g. 1d)"
        ) from None
