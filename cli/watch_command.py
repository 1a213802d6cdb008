"""``ledgerflow watch RUN``: follow a run another process drives, until it ends.

Each poll reads the run's summary row and only the events after the last seq seen (an
index range scan), and feeds them to the live progress of ``ledgerflow run``. A CRASHED
run (its driver's lease expired) is reported and waited for: a resume or a worker may
continue it, unless ``--exit-on-crash``.
"""

import time
from collections import Counter
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.console import Console

from ..engine.core.events import Event
from ..engine.core.states import RunState
from ..engine.recorder import EventListener
from ..storage import EventLog, RunNotFound
from .errors import EXIT_FAILED
from .inspect_commands import archived_note, result_or_reason
from .options import (
    MAX_POLL_S,
    DatabaseOption,
    ExpandOption,
    RunArgument,
    console,
    open_recorded,
)
from .progress import StateCounts, run_progress
from .render import error_table, state_counts, state_line, task_table


def watch(
    run_id: RunArgument,
    poll: Annotated[
        float,
        typer.Option(
            "--poll", metavar="S", min=0.01, max=MAX_POLL_S, help="Seconds between reads of the log."
        ),
    ] = 0.5,
    exit_on_crash: Annotated[
        bool,
        typer.Option("--exit-on-crash", help="Stop (exit 1) when the run crashes, not wait for a resume."),
    ] = False,
    expand: ExpandOption = False,
    database: DatabaseOption = None,
) -> None:
    """Show the live progress of a run driven by another process until it ends, then its
    tasks and final counts per state. Exits 0 if it succeeded, 1 otherwise, 2 for an
    unknown run."""
    out = console()
    with open_recorded(database) as engine:
        log = engine.storage.log
        try:
            summary = log.run(run_id)
        except RunNotFound:
            tombstone = engine.archived_run(run_id)
            if tombstone is None:
                raise
            out.print(archived_note(tombstone), markup=False, soft_wrap=True)
            _exit_for(RunState(tombstone.state))
            return
        history = log.read(run_id)
        _announce(out, summary.flow, history)
        with run_progress(out, history) as listener:
            _follow(out, log, run_id, history[-1].seq if history else 0, listener, poll, exit_on_crash)
        finished = engine.get_run(run_id)
        result = result_or_reason(finished)
    out.print(task_table(finished.tasks, expand=expand, title=f"flow {finished.flow}"))
    errors = error_table(finished.tasks)
    if errors is not None:
        out.print(errors)
    counts = Counter(task.state.value for task in finished.tasks.values())
    out.print(f"tasks: {state_counts(counts)}", highlight=False, markup=False, soft_wrap=True)
    out.print(f"run id: {finished.id}", highlight=False, soft_wrap=True)
    out.print(state_line(finished.state))
    if result is not None:
        out.print(f"result: {result}", highlight=False, markup=False, soft_wrap=True)
    _exit_for(finished.state)


def _announce(out: Console, flow: str, history: Sequence[Event]) -> None:
    counts = StateCounts()
    counts.apply(history)
    state = counts.run_state.value if counts.run_state else "?"
    out.print(
        f"watching run {counts.run_id} (flow {flow}): {state}, {counts.done}/{counts.total} "
        f"tasks done" + (f" ({counts.describe()})" if counts.counts else ""),
        highlight=False, markup=False, soft_wrap=True,
    )  # fmt: skip


def _follow(
    out: Console, log: EventLog, run_id: str, seen: int, listener: EventListener,
    poll: float, exit_on_crash: bool,
) -> None:  # fmt: skip
    """Feed new events to ``listener`` until the run is finished (or crashed, if asked)."""
    is_crash_reported = False
    while True:
        summary = log.run(run_id)
        if summary.head_seq > seen:
            new = log.read(run_id, after_seq=seen)
            if new:
                listener(new)
                seen = new[-1].seq
        state = RunState(summary.state)
        if state.is_terminal and seen >= summary.head_seq:
            return
        if state is RunState.CRASHED and not is_crash_reported:
            then = "stopped watching" if exit_on_crash else "waiting for a resume"
            out.print(
                f"run {run_id} CRASHED: its driver's lease expired; {then} "
                f"(`ledgerflow resume {run_id}` or a `ledgerflow worker` continues it)",
                highlight=False, markup=False, soft_wrap=True,
            )  # fmt: skip
            if exit_on_crash:
                return
        is_crash_reported = state is RunState.CRASHED
        time.sleep(poll)


def _exit_for(state: RunState) -> None:
    if state is not RunState.SUCCEEDED:
        raise typer.Exit(EXIT_FAILED)
