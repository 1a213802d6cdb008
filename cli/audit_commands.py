"""``ledgerflow verify`` (a run, every run, or an export offline) and ``ledgerflow export``."""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..replay import (
    Checkpoint,
    ExportReport,
    ExportWriteFailed,
    InvalidCheckpoint,
    ResultsReport,
    SignatureStatus,
    VerifyReport,
    checkpoint_of_export,
    parse_checkpoint,
    verify_export,
)
from .errors import EXIT_FAILED, BadUsage
from .options import DatabaseOption, RunArgument, open_recorded

EXPORT_KEY_ENV = "LEDGERFLOW_EXPORT_KEY"

KeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        metavar="FILE",
        help=f"The HMAC-SHA256 key (the file's bytes, surrounding whitespace stripped) that "
        f"signs an export or checks its signature; default: ${EXPORT_KEY_ENV}.",
        show_default=False,
    ),
]

_SIGNATURE_TEXT = {
    SignatureStatus.VALID: "signature valid",
    SignatureStatus.INVALID: "signature INVALID (altered after signing, or signed with another key)",
    SignatureStatus.MISSING: "signature MISSING (a key was given but the export is not signed)",
    SignatureStatus.UNSIGNED: "not signed",
    SignatureStatus.NOT_CHECKED: f"signature not checked (no --key-file or ${EXPORT_KEY_ENV})",
}


def export_key(key_file: Path | None) -> bytes | None:
    """The key of ``--key-file``, else of ``$LEDGERFLOW_EXPORT_KEY``, else None."""
    if key_file is None:
        from_env = os.environ.get(EXPORT_KEY_ENV, "").strip()
        return from_env.encode() if from_env else None
    try:
        key = key_file.read_bytes().strip()
    except OSError as exc:
        raise BadUsage(f"--key-file {key_file}: cannot read it ({exc.strerror or exc})") from None
    if not key:
        raise BadUsage(f"--key-file {key_file} is empty: a key needs at least one byte")
    return key


def export(
    run_id: RunArgument,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to FILE (default: stdout)."),
    ] = None,
    key_file: KeyFileOption = None,
    database: DatabaseOption = None,
) -> None:
    """Export a run as JSON Lines (header, every event with its hashes, head checkpoint),
    signed if a key is given; `ledgerflow verify --file` checks it with no database."""
    key = export_key(key_file)
    with open_recorded(database) as engine:
        if output is None:
            try:
                summary = engine.export(run_id, sys.stdout.buffer, key)
            except OSError as exc:
                raise ExportWriteFailed("stdout", exc.strerror or str(exc)) from None
        else:
            try:
                summary = engine.export(run_id, output, key)
            except OSError as exc:
                raise BadUsage(f"cannot write the export to {output}: {exc.strerror or exc}") from None
    signed = "signed (HMAC-SHA256)" if summary.is_signed else "not signed"
    typer.echo(
        f"exported run {run_id}{f' to {output}' if output else ''}: {summary.events} events, "
        f"{signed}; checkpoint {summary.checkpoint}",
        err=output is None,
    )


def verify(
    run_id: Annotated[
        str | None, typer.Argument(metavar="RUN", help="The run id (see `ledgerflow runs`).")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Verify every run in the database.")] = False,
    file: Annotated[
        Path | None,
        typer.Option("--file", metavar="FILE", help="Verify an export offline (no database)."),
    ] = None,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--checkpoint",
            metavar="SEQ:HASH|FILE",
            help="A checkpoint kept from an earlier export (as `export` prints it, or the "
            "export file itself): also finds a deleted tail and a rewritten chain.",
        ),
    ] = None,
    results: Annotated[
        bool,
        typer.Option(
            "--results",
            help="Also re-hash every stored result the run's events refer to (database and "
            "object stores): each one altered or missing fails the check.",
        ),
    ] = False,
    key_file: KeyFileOption = None,
    database: DatabaseOption = None,
) -> None:
    """Verify hash chains: a run's (RUN), every run's (--all), or an export's (--file);
    prints OK, or the first bad seq and why (exit 1). With --results, a run's stored results too."""
    if (run_id is not None) + every + (file is not None) != 1:
        raise BadUsage("give one of: a run id, --all, or --file FILE")
    if results and run_id is None:
        raise BadUsage("--results re-hashes one run's stored results: give a run id")
    if key_file is not None and file is None:
        raise BadUsage("--key-file checks the signature of an export: use it with --file")
    if checkpoint is not None and every:
        raise BadUsage("--checkpoint applies to one run: give a run id or --file, not --all")
    kept = _checkpoint(checkpoint) if checkpoint is not None else None
    if file is not None:
        is_ok = _verify_file(file, export_key(key_file), kept)
    elif every:
        is_ok = _verify_all(database)
    else:
        assert run_id is not None
        is_ok = _verify_run(run_id, kept, database, results)
    if not is_ok:
        raise typer.Exit(EXIT_FAILED)


def _checkpoint(text: str) -> Checkpoint:
    try:
        if Path(text).is_file():
            return checkpoint_of_export(text)
        return parse_checkpoint(text)
    except (InvalidCheckpoint, OSError) as exc:
        raise BadUsage(f"--checkpoint {text}: {exc}") from None


def _verify_run(run_id: str, checkpoint: Checkpoint | None, database: str | None, results: bool) -> bool:
    with open_recorded(database) as engine:
        try:
            report = engine.verify(run_id, checkpoint, results=results)
        except InvalidCheckpoint as exc:
            raise BadUsage(f"--checkpoint: {exc}") from None
    against = f"; checkpoint seq {checkpoint.seq} matches" if checkpoint is not None else ""
    typer.echo(_report_line(f"run {run_id}", report, against))
    if report.results is not None:
        _echo_results(f"run {run_id}", report.results)
    return report.ok


def _verify_all(database: str | None) -> bool:
    with open_recorded(database) as engine:
        reports = engine.verify_all()
    failed = {run_id: report for run_id, report in reports.items() if not report.ok}
    for run_id, report in failed.items():
        typer.echo(_report_line(f"run {run_id}", report))
    runs = f"{len(reports)} run{'' if len(reports) == 1 else 's'}"
    typer.echo(
        f"{'FAILED' if failed else 'OK'}: verified {runs}: {len(reports) - len(failed)} ok, "
        f"{len(failed)} failed"
    )
    return not failed


def _verify_file(path: Path, key: bytes | None, checkpoint: Checkpoint | None) -> bool:
    try:
        report: ExportReport = verify_export(path, key=key, checkpoint=checkpoint)
    except InvalidCheckpoint as exc:
        raise BadUsage(f"--checkpoint: {exc}") from None
    except OSError as exc:
        raise BadUsage(f"--file {path}: cannot read it ({exc.strerror or exc})") from None
    subject = f"export {path}" + (f" of run {report.run_id}" if report.run_id else "")
    ends = f"; it ends at its checkpoint {report.checkpoint}" if report.checkpoint else ""
    against = f"; checkpoint seq {checkpoint.seq} matches" if checkpoint is not None else ""
    status = _SIGNATURE_TEXT[report.signature]
    if report.chain.ok and not report.ok:  # the chain holds, the signature does not
        typer.echo(f"FAILED: {subject}: {status} ({report.chain.events_checked} events verified)")
    else:
        typer.echo(f"{_report_line(subject, report.chain, ends + against)}; {status}")
    return report.ok


def _echo_results(subject: str, checked: ResultsReport) -> None:
    for problem in checked.problems:
        typer.echo(
            f"FAILED: {subject}, task {problem.task_key} (seq {problem.seq}): stored result "
            f"{problem.ref!r} in {problem.store}: {problem.reason}; expected sha256 "
            f"{problem.expected}, found {problem.found}"
        )
    if checked.unpersisted:
        keys = ", ".join(checked.unpersisted[:10]) + (", ..." if len(checked.unpersisted) > 10 else "")
        typer.echo(
            f"note: {subject}: skipped {len(checked.unpersisted)} result(s) that were not persisted "
            f"(persist_result=False: only their size and sha256 are recorded): {keys}"
        )
    stored = f"{checked.checked} stored result{'' if checked.checked == 1 else 's'}"
    if checked.ok:
        typer.echo(f"OK: {subject}: {stored} match their recorded size and sha256")
    else:
        typer.echo(f"FAILED: {subject}: {len(checked.problems)} of {stored} altered or missing")


def _report_line(subject: str, report: VerifyReport, detail: str = "") -> str:
    if report.chain_holds:
        return f"OK: {subject}: {report.events_checked} events verified, the chain holds{detail}"
    where = f"first bad seq {report.first_bad_seq}: " if report.first_bad_seq is not None else ""
    return (
        f"FAILED: {subject}: {where}{report.reason} "
        f"({report.events_checked} events verified before it)"
    )
