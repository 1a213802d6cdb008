"""``ledgerflow worker``: resume runs whose driver died, until SIGINT or SIGTERM stops it."""

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated

import typer

from ..engine.worker import Worker
from .options import DatabaseOption, ExecutorOption, console
from .render import format_time

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ReportingWorker(Worker):
    """A ``Worker`` that reports each run it resumed, and how the run ended, on stderr."""

    def run_once(self) -> list[str]:
        """Claim and drive at most one crashed run; report it; return the ids driven."""
        driven = super().run_once()
        for run_id in driven:
            summary = self.engine.storage.log.run(run_id)
            hint = "" if summary.state == "SUCCEEDED" else f" (see `ledgerflow show {run_id}`)"
            say(f"resumed run {run_id} (flow {summary.flow}): {summary.state}{hint}")
        return driven


def worker(
    poll: Annotated[
        float, typer.Option("--poll", metavar="SECONDS", min=0.01, help="Seconds between polls when idle.")
    ] = 5.0,
    lease_ttl: Annotated[
        float,
        typer.Option(
            "--lease-ttl", metavar="SECONDS", min=0.01,
            help="Lease of a run being driven, renewed every third of it; "
            "if this worker dies, others resume its run once the lease expires.",
        ),
    ] = 30.0,
    executor: ExecutorOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Resume at most one crashed run, then exit.")
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Resume runs whose driver died (their lease expired), one at a time, until stopped.

    SIGINT (Ctrl-C) or SIGTERM stops the worker after the run it is driving (a second
    signal acts at once). Each resumed run and its final state is reported on stderr.
    """
    with ReportingWorker(
        database or None,
        executor.value if executor is not None else None,
        poll_interval=poll,
        lease_ttl=lease_ttl,
    ) as running:
        where = running.engine.storage.url
        if once:
            if not running.run_once():
                say(f"no crashed run to resume in {where}")
            return
        say(f"worker {running.engine.owner} polls {where} every {poll:g}s; stop it with Ctrl-C or SIGTERM")
        with stop_on_signals(running):
            running.run()
        say(f"worker {running.engine.owner} stopped")


@contextmanager
def stop_on_signals(running: Worker) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM ask ``running`` to stop after its current run; the
    first signal restores the previous handlers, so a second one acts as it usually does."""
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def handle(signum: int, frame: FrameType | None) -> None:
        running.stop()
        restore()

    for signum in STOP_SIGNALS:
        signal.signal(signum, handle)
    try:
        yield
    finally:
        restore()


def say(message: str) -> None:
    """One timestamped line on stderr."""
    console(stderr=True).print(
        f"{format_time(datetime.now(UTC))} {message}", highlight=False, markup=False, soft_wrap=True
    )
