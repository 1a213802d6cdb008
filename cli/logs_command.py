"""``ledgerflow logs RUN``: what a run's task attempts printed and logged."""

from collections.abc import Sequence
from itertools import groupby
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.text import Text

from ..engine.errors import UnknownTask
from ..storage import TaskLogLine
from .attempt_errors import AttemptError, attempt_errors, error_line
from .options import DatabaseOption, RunArgument, console, open_recorded


def logs(
    run_id: RunArgument,
    task: Annotated[
        str | None, typer.Option("--task", "-t", metavar="KEY", help="Only this task's output.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON Lines with every field.")] = False,
    database: DatabaseOption = None,
) -> None:
    """Show what each task attempt printed (stdout, stderr) and logged, and the error it
    raised, by task and attempt."""
    with open_recorded(database) as engine:
        lines = engine.logs(run_id, task)
        if task is not None and not lines and task not in engine.get_run(run_id).tasks:
            raise UnknownTask(run_id, task)
        raised = [] if as_json else attempt_errors(engine.events(run_id), task)
    if as_json:
        for line in lines:
            typer.echo(orjson.dumps(line_json(line)).decode())
        return
    out = console()
    if not lines and not raised:
        out.print(f"run {run_id}: no captured output", markup=False, highlight=False)
        return
    _print_attempts(out, lines, raised)


def _print_attempts(out: Console, lines: Sequence[TaskLogLine], raised: Sequence[AttemptError]) -> None:
    """Under a rule per task attempt: its lines, then the error it raised (if it did)."""
    by_attempt = {key: list(group) for key, group in groupby(lines, key=_line_attempt)}
    errors = {(error.task_key, error.attempt): error for error in raised}
    for task_key, attempt in sorted(by_attempt.keys() | errors.keys(), key=_attempt_order):
        out.rule(f"{task_key} · attempt {attempt if attempt is not None else '?'}", align="left", style="dim")
        for line in by_attempt.get((task_key, attempt), ()):
            out.print(line_text(line), markup=False, highlight=False, soft_wrap=True)
        error = errors.get((task_key, attempt))
        if error is not None:
            out.print(Text(error_line(error), style="red"))


def _line_attempt(line: TaskLogLine) -> tuple[str, int | None]:
    return line.task_key, line.attempt


def _attempt_order(key: tuple[str, int | None]) -> tuple[str, int]:
    return key[0], -1 if key[1] is None else key[1]


def line_text(line: TaskLogLine) -> str:
    """``HH:MM:SS.mmm  stream  message``; a log record shows its level and logger."""
    when = line.ts.strftime("%H:%M:%S.%f")[:-3]
    if line.stream == "log":
        return f"{when}  {line.level or '':<8}  {line.logger}: {line.message}"
    return f"{when}  {line.stream:<8}  {line.message}"


def line_json(line: TaskLogLine) -> dict[str, object]:
    """A line as plain data, its time as UTC ISO-8601 with microseconds."""
    return {
        "run_id": line.run_id,
        "task_key": line.task_key,
        "attempt": line.attempt,
        "seq": line.seq,
        "ts": line.ts.isoformat(timespec="microseconds"),
        "stream": line.stream,
        "level": line.level,
        "logger": line.logger,
        "message": line.message,
    }
