"""Parsing the API's query filters; a malformed one is a 422 naming the parameter."""

from datetime import datetime
from enum import StrEnum

from fastapi import HTTPException

from ..engine.core.states import RunState, TaskState
from ..engine.moments import EXAMPLE_TIME, parse_utc_time, time_or_age


def states(parameter: str, text: str | None, allowed: type[StrEnum]) -> list[str] | None:
    """A comma list of state names (any case) of ``allowed``; None if not given."""
    if text is None:
        return None
    names = [name.strip().upper() for name in text.split(",") if name.strip()]
    valid = [state.value for state in allowed]
    unknown = [name for name in names if name not in valid]
    if unknown or not names:
        raise HTTPException(
            422,
            f"{parameter}={text!r}: {', '.join(unknown) or 'no state'} is not a "
            f"{'run' if allowed is RunState else 'task'} state; valid states: {', '.join(valid)}",
        )
    return names


def run_states(text: str | None) -> list[str] | None:
    """``state=``: run state names separated by commas."""
    return states("state", text, RunState)


def task_states(text: str | None) -> list[str] | None:
    """``state=``: task state names separated by commas."""
    return states("state", text, TaskState)


def moment(parameter: str, text: str | None, now: datetime) -> datetime | None:
    """An ISO-8601 time (naive is UTC) or an age before ``now`` (``1d``, ``12h``); None if absent."""
    if text is None:
        return None
    try:
        return time_or_age(text, now)
    except ValueError as exc:
        raise HTTPException(422, f"{parameter}={text!r} {exc}") from None


def point_in_time(seq: int | None, at: str | None) -> tuple[int | None, datetime | None]:
    """``seq=`` or ``at=`` (not both); an ``at`` must be an ISO-8601 time (naive is UTC)."""
    if seq is not None and at is not None:
        raise HTTPException(422, "give seq= or at=, not both")
    if at is None:
        return seq, None
    try:
        return None, parse_utc_time(at)
    except ValueError:
        raise HTTPException(422, f"at={at!r} is not an ISO-8601 time (e.g. {EXAMPLE_TIME})") from None
