"""How much of a listing of runs ``ledgerflow runs`` prints: the newest 50 unless told, and a
line saying how many more there are, counted with a bound (see ``storage.run_pages``)."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from ..engine.api import Engine
from ..engine.core.states import RunState
from .errors import BadUsage

DEFAULT_RUNS_SHOWN = 50
"""How many runs ``ledgerflow runs`` lists without ``--limit`` or ``--all``."""
COUNT_BOUND = 100_000
"""Counting the runs not shown stops past this many per state ("at least N more")."""


@dataclass(frozen=True, slots=True)
class RunFilters:
    """What ``ledgerflow runs`` was asked to list."""

    flow: str | None = None
    states: Collection[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    queue: str | None = None


def page_size(limit: int | None, show_all: bool) -> int | None:
    """How many runs to list: ``--limit``, every one with ``--all`` (None), else the default."""
    if show_all and limit is not None:
        raise BadUsage("--all lists every run: give it or --limit N, not both")
    if show_all:
        return None
    return DEFAULT_RUNS_SHOWN if limit is None else limit


def more_runs_line(engine: Engine, filters: RunFilters, shown: int) -> str:
    """The line saying how many runs matching ``filters`` were not listed."""
    counts = engine.run_counts(
        flow=filters.flow, since=filters.since, until=filters.until, at_most=COUNT_BOUND, queue=filters.queue
    )
    states = filters.states if filters.states is not None else [state.value for state in RunState]
    total = sum(counts.get(state, 0) for state in states)
    is_bounded = any(counts.get(state, 0) > COUNT_BOUND for state in states)
    more = max(total - shown, 0)
    amount = f"at least {more:,}" if is_bounded else f"{more:,}"
    return f"{amount} more {'run' if more == 1 else 'runs'} not shown; use --all or --limit N"
