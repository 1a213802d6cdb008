"""``ledgerflow gc --results``: list (and with ``--execute`` remove) the stored results that no
event refers to, older than ``--older-than``."""

from typing import Annotated

import typer
from rich.table import Table

from ..engine.durations import format_duration
from ..engine.moments import parse_duration
from ..engine.result_gc import ORPHAN, ResultGcReport, StoreScan
from .amounts import counted, size_text
from .errors import EXIT_FAILED, BadUsage
from .options import DatabaseOption, ResultStorageOption, console, open_recorded
from .render import format_time

_KEPT = ("referenced", "recent", "undated", "foreign", "archived")


def gc(
    results: Annotated[
        bool, typer.Option("--results", help="Collect stored results that no event refers to.")
    ] = False,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Only results written longer ago than this (1d, 12h, 30m, 0s); younger ones may "
            "belong to attempts still running.",
        ),
    ] = "1d",
    execute: Annotated[
        bool, typer.Option("--execute", help="Remove them (default: only list what would go).")
    ] = False,
    result_storage: ResultStorageOption = None,
    database: DatabaseOption = None,
) -> None:
    """Find stored results nothing refers to (the bytes of an attempt whose driver died before
    recording them): in the result storage (--result-storage, $LEDGERFLOW_RESULT_STORAGE),
    every store the events name, and the database. Dry run unless --execute. Exits 1 if a
    store could not be listed or a removal failed."""
    if not results:
        raise BadUsage("say what to collect: --results (stored results no event refers to)")
    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        raise BadUsage(f"--older-than {older_than!r} {exc}") from None
    with open_recorded(database, result_storage=result_storage) as engine:
        report = engine.gc_results(age, execute)
    _print(report)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


def _print(report: ResultGcReport) -> None:
    out = console()
    cutoff = format_time(report.scanned_at - report.older_than)
    if report.orphans:
        table = Table(title=f"orphans: stored results no event refers to, written before {cutoff} UTC")
        for name in ("store", "key"):
            table.add_column(name, overflow="fold")
        table.add_column("size", justify="right", no_wrap=True)
        table.add_column("age", justify="right", no_wrap=True)
        for orphan in report.orphans:
            age = format_duration(orphan.age.total_seconds())
            table.add_row(orphan.store, orphan.key, size_text(orphan.size), age)
        out.print(table)
    for scan in report.stores:
        out.print(_store_line(scan), markup=False, soft_wrap=True, highlight=False)
    for (store, key), reason in report.failures.items():
        out.print(f"FAILED to remove {key} from {store}: {reason}", markup=False, soft_wrap=True)
    count = len(report.orphans)
    found = f"{counted(count, 'orphan')} ({size_text(report.orphan_bytes)})"
    if not report.is_executed:
        hint = "; run again with --execute to remove them" if count else ""
        out.print(f"dry run: {found} older than {_age(report)}{hint}", markup=False, soft_wrap=True)
        return
    removed = len(report.removed)
    out.print(
        f"removed {removed} of {found}, "
        f"{size_text(sum(orphan.size for orphan in report.removed))} freed",
        markup=False, soft_wrap=True,
    )  # fmt: skip


def _store_line(scan: StoreScan) -> str:
    if scan.error is not None:
        return f"FAILED: {scan.store}: {scan.error}"
    kept = ", ".join(f"{scan.counts[kind]} {kind}" for kind in _KEPT if scan.counts.get(kind))
    orphans = scan.counts.get(ORPHAN, 0)
    listed = counted(scan.listed, "stored result")
    return f"{scan.store}: {listed}: {counted(orphans, 'orphan')}" + (f"; kept: {kept}" if kept else "")


def _age(report: ResultGcReport) -> str:
    seconds = int(report.older_than.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
