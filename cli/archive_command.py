"""``ledgerflow archive``: move finished runs to verified export files, leaving tombstones;
``ledgerflow archive verify``: check an archive file against its tombstone."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..engine.archive import ARCHIVING, ArchivePlan, ArchiveReport
from ..engine.moments import parse_duration
from ..replay.archive import verify_archived
from ..storage.harden import is_hardened
from .amounts import counted, size_text
from .archive_results import print_results_plan, print_run_results
from .audit_commands import KeyFileOption, export_key
from .errors import EXIT_FAILED, BadUsage
from .options import DatabaseOption, ResultStorageOption, RunArgument, RunLimitOption, console, open_recorded
from .render import format_time, styled_state

archive_app = typer.Typer(invoke_without_command=True)


@archive_app.callback()
def archive(
    ctx: typer.Context,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", metavar="AGE", help="Runs finished longer ago than this (90d, 12h, 30m)."
        ),
    ] = None,
    to: Annotated[Path | None, typer.Option("--to", metavar="DIR", help="Where the export files go.")] = None,
    execute: Annotated[
        bool, typer.Option("--execute", help="Archive (default: only show what would be archived).")
    ] = False,
    with_results: Annotated[
        bool,
        typer.Option(
            "--with-results",
            help="Also copy each run's stored results to DIR/<run_id>.results/ (checked), and "
            "remove its objects from their stores once it is archived.",
        ),
    ] = False,
    limit: RunLimitOption = None,
    key_file: KeyFileOption = None,
    result_storage: ResultStorageOption = None,
    database: DatabaseOption = None,
) -> None:
    """Export each finished run (SUCCEEDED, FAILED, CANCELLED) last updated longer ago than
    --older-than to DIR/<run_id>.jsonl, verify the file, then delete the run's events, results
    and logs, keeping a tombstone (head seq and hash, file name and sha256). Objects in result
    stores stay in place unless --with-results. Dry run unless --execute. Exits 1 if a run
    planned for archiving had to stay."""
    if ctx.invoked_subcommand is not None:
        return
    if older_than is None or to is None:
        raise BadUsage("give --older-than AGE (e.g. 90d) and --to DIR")
    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        raise BadUsage(f"--older-than {older_than!r} {exc}") from None
    key = export_key(key_file)
    with open_recorded(database, result_storage=result_storage) as engine:
        plan = engine.plan_archive(age, limit=limit)
        if not execute:
            _print_plan(plan, to, is_hardened(engine.storage.sql_engine(ARCHIVING)))
            print_results_plan(with_results, to)
            return
        try:
            report = engine.archive(plan, to, key, with_results=with_results)
        except OSError as exc:
            raise BadUsage(f"--to {to}: cannot write there ({exc.strerror or exc})") from None
    _print_report(report, to)
    if set(report.kept) - set(plan.kept):
        raise typer.Exit(EXIT_FAILED)


def _print_plan(plan: ArchivePlan, directory: Path, is_hardened_db: bool) -> None:
    out = console()
    table = Table(title=f"runs last updated before {format_time(plan.updated_before)} UTC")
    for name in ("run id", "flow", "state", "updated"):
        table.add_column(name, no_wrap=True)
    table.add_column("events", justify="right")
    table.add_column("size", justify="right")
    table.add_column("archive?")
    for candidate in plan.candidates:
        run = candidate.run
        kept = plan.kept.get(run.run_id)
        table.add_row(
            run.run_id,
            run.flow,
            styled_state(run.state),
            format_time(run.updated_at),
            str(run.head_seq),
            size_text(candidate.size),
            f"kept: {kept}" if kept else "yes",
        )
    out.print(table)
    chosen = plan.to_archive
    out.print(
        f"dry run: would archive {len(chosen)} run{'' if len(chosen) == 1 else 's'} "
        f"(about {size_text(sum(c.size for c in chosen))} in the database) to {directory}; "
        "run again with --execute to archive them",
        markup=False, soft_wrap=True,
    )  # fmt: skip
    if is_hardened_db:
        out.print(
            "note: the events table is hardened (`ledgerflow db harden`): --execute will be refused",
            markup=False,
            soft_wrap=True,
        )


def _print_report(report: ArchiveReport, directory: Path) -> None:
    out = console()
    for tombstone in report.archived:
        out.print(f"archived {tombstone.run_id}: {tombstone.head_seq} events -> "
                  f"{directory / tombstone.file_name} (sha256 {tombstone.file_sha256})",
                  markup=False, soft_wrap=True)  # fmt: skip
        print_run_results(out, report, tombstone.run_id, directory)
    for run_id, reason in report.kept.items():
        out.print(f"kept {run_id}: {reason}", markup=False, soft_wrap=True)
    freed = sum(c.size for c in report.plan.candidates if c.run.run_id not in report.kept)
    out.print(f"archived {len(report.archived)} runs (about {size_text(freed)} freed), "
              f"kept {len(report.kept)}", markup=False, soft_wrap=True)  # fmt: skip


@archive_app.command("verify")
def verify(
    run_id: RunArgument,
    file: Annotated[
        Path, typer.Option("--file", metavar="FILE", help="The run's archive file (DIR/RUN.jsonl).")
    ],
    key_file: KeyFileOption = None,
    database: DatabaseOption = None,
) -> None:
    """Check an archive file against its run's tombstone: the file's sha256, its chain (and
    signature, with a key), that it ends at the head the database recorded, and the copies of
    the run's stored results beside it (DIR/<run_id>.results/, if it was archived with them)."""
    key = export_key(key_file)
    with open_recorded(database) as engine:
        tombstone = engine.archived_run(run_id)
    if tombstone is None:
        raise BadUsage(
            f"run {run_id!r} has no tombstone in this database: it was not archived "
            "(see `ledgerflow runs --archived`)"
        )
    try:
        check = verify_archived(tombstone, file, key)
    except OSError as exc:
        raise BadUsage(f"--file {file}: cannot read it ({exc.strerror or exc})") from None
    if check.ok:
        copies = "" if check.results_checked is None else (
            f"; {counted(check.results_checked, 'stored result')} copied beside it verified"
        )  # fmt: skip
        typer.echo(
            f"OK: archive {file} of run {run_id}: sha256 matches the tombstone, "
            f"{check.export.chain.events_checked} events verified, ends at the recorded head "
            f"{tombstone.head_seq}:{tombstone.head_hash}; signature {check.export.signature.value}{copies}"
        )
        return
    typer.echo(f"FAILED: archive {file} of run {run_id}: {'; '.join(check.problems)}")
    raise typer.Exit(EXIT_FAILED)
