"""What ``ledgerflow archive`` says of the stored results of the runs it archives."""

from pathlib import Path

from rich.console import Console

from ..engine.archive import ArchiveReport
from ..replay.archive import results_directory
from .amounts import counted, size_text
from .options import console


def print_results_plan(with_results: bool, directory: Path) -> None:
    """The dry run's note on what becomes of the runs' stored results."""
    if with_results:
        note = (
            f"with --with-results: each run's stored results are copied to {directory}/<run_id>.results/ "
            "and checked before the run is archived, and its objects are removed from their stores after"
        )
    else:
        note = (
            "objects in result stores stay in place (--with-results copies them into the archive "
            "and removes them from their stores)"
        )
    console().print(note, markup=False, soft_wrap=True)


def print_run_results(out: Console, report: ArchiveReport, run_id: str, directory: Path) -> None:
    """What became of an archived run's stored results: copied, removed, or left in place."""
    results = report.results.get(run_id)
    if results is None or not results.refs:
        return
    in_database = len(results.refs) - len(results.in_stores)
    if report.with_results:
        copied = sum(ref.size for ref in results.copied)
        lines = [
            f"  {counted(len(results.copied), 'stored result')} ({size_text(copied)}) copied to "
            f"{results_directory(directory, run_id)}/ (each named by its sha256, checked)",
            f"  {counted(len(results.removed), 'object')} removed from their result stores",
            *(f"  left {key} in {store}: {why}" for (store, key), why in results.left.items()),
        ]
    else:
        lines = []
        if results.in_stores:
            objects = counted(len(results.in_stores), "object")
            lines.append(f"  {objects} left in place in their result stores (--with-results "
                         "copies them into the archive and removes them)")  # fmt: skip
        if in_database:
            held = counted(in_database, "result")
            lines.append(f"  {held} held in the database went with the run (not copied)")
    for line in lines:
        out.print(line, markup=False, soft_wrap=True)
