"""``ledgerflow logs RUN``: what a run's task attempts printed and logged."""

from itertools import groupby
from typing import Annotated

import orjson
import typer

from ..engine.errors import UnknownTask
from ..storage import TaskLogLine
from .options import DatabaseOption, RunArgument, console, open_recorded


def logs(
    run_id: RunArgument,
    task: Annotated[
        str | None, typer.Option("--task", "-t", metavar="KEY", help="Only this task's output.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON Lines with every field.")] = False,
    database: DatabaseOption = None,
) -> None:
    """Show what each task attempt printed (stdout, stderr) and logged, by task and attempt."""
    with open_recorded(database) as engine:
        lines = engine.logs(run_id, task)
        if task is not None and not lines and task not in engine.get_run(run_id).tasks:
            raise UnknownTask(run_id, task)
    if as_json:
        for line in lines:
            typer.echo(orjson.dumps(line_json(line)).decode())
        return
    out = console()
    if not lines:
        out.print(f"run {run_id}: no captured output", markup=False, highlight=False)
        return
    for (task_key, attempt), group in groupby(lines, key=lambda line: (line.task_key, line.attempt)):
        out.rule(f"{task_key} · attempt {attempt}", align="left", style="dim")
        for line in group:
            out.print(line_text(line), markup=False, highlight=False, soft_wrap=True)


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
