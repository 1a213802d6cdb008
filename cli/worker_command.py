"""``ledgerflow worker``: drive submitted runs and resume crashed ones, until SIGINT or SIGTERM."""

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType
from typing import Annotated

import typer

from ..engine.core.run_terms import DEFAULT_QUEUE
from ..engine.worker import DEFAULT_MAX_RUNS, Worker
from ..executors import Executor
from .log_format import adopt_library_loggers, say
from .metrics_options import DEFAULT_METRICS_HOST, MetricsHostOption, MetricsPortOption, serving_metrics
from .options import MAX_POLL_S, DatabaseOption, ExecutorOption, ResultStorageOption, dask_address_option
from .stop_signals import handling_stop_signals

DEFAULT_GRACE_S = 30.0
"""Seconds a stopping worker lets its runs finish before it hands them back."""


class ReportingWorker(Worker):
    """A ``Worker`` that reports each run it drove, and how the run ended, on stderr."""

    def driven(self, run_id: str, reason: str) -> None:
        """Report the run and its final state."""
        summary = self.engine.storage.log.run(run_id)
        hint = "" if summary.state == "SUCCEEDED" else f" (see `ledgerflow show {run_id}`)"
        verb = "resumed" if reason == "resume" else "drove submitted"
        say(f"{verb} run {run_id} (flow {summary.flow}): {summary.state}{hint}", run_id=run_id)

    def handed_back(self, run_id: str) -> None:
        """Report a run handed back."""
        say(f"handed run {run_id} back: another worker resumes it", run_id=run_id)


def worker(
    poll: Annotated[
        float,
        typer.Option(
            "--poll",
            metavar="SECONDS",
            min=0.01,
            max=MAX_POLL_S,
            help="Seconds between polls when idle (on PostgreSQL a submitted run wakes the worker at once).",
        ),
    ] = 5.0,
    lease_ttl: Annotated[
        float,
        typer.Option(
            "--lease-ttl",
            metavar="SECONDS",
            min=0.01,
            max=MAX_POLL_S,
            help="Lease of a run being driven, renewed every third of it; "
            "if this worker dies, others resume its run once the lease expires.",
        ),
    ] = 30.0,
    executor: ExecutorOption = None,
    dask_address: Annotated[
        str | None,
        dask_address_option("Drive runs on this Dask cluster (tcp://host:port of its scheduler)."),
    ] = None,
    resource_timeout: Annotated[
        float,
        typer.Option(
            "--resource-timeout",
            metavar="SECONDS",
            min=0.01,
            help="With Dask: fail a task whose resources no worker offers after this long.",
        ),
    ] = 30.0,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Name in the workers registry (default: host:pid:token).", show_default=False
        ),
    ] = None,
    schedules: Annotated[
        bool,
        typer.Option(
            "--schedules/--no-schedules",
            help="Also create the runs of due schedules at each poll (see `ledgerflow schedule`).",
        ),
    ] = True,
    max_runs: Annotated[
        int,
        typer.Option(
            "--max-runs",
            metavar="N",
            min=1,
            help="Drive up to N runs at once (on threads, also up to N task bodies at once).",
        ),
    ] = DEFAULT_MAX_RUNS,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            metavar="SECONDS",
            min=0,
            max=MAX_POLL_S,
            help="On SIGINT/SIGTERM, let the runs at hand finish for this long, then hand them back.",
        ),
    ] = DEFAULT_GRACE_S,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue", metavar="NAME", show_default=False,
            help="Claim runs of this queue (repeat for several; default: default).",
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Drive at most one crashed or scheduled run, then exit.")
    ] = False,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = DEFAULT_METRICS_HOST,
    database: DatabaseOption = None,
    result_storage: ResultStorageOption = None,
) -> None:
    """Drive runs of its queues: resume those whose driver died (their lease expired), then
    those submitted with `ledgerflow submit` (higher priority first), up to --max-runs at
    once, until stopped. A flow's run limit holds across workers.

    The worker registers itself (see `ledgerflow workers`) and heartbeats every poll.
    SIGINT (Ctrl-C) or SIGTERM stops it claiming runs and lets those it drives finish for
    --grace seconds; then it hands back those still running (it records why and gives up their
    leases: other workers resume them at once) and exits. A second signal hands them back at
    once; a third exits at once, leaving their leases to lapse.
    """
    with ExitStack() as stack:
        chosen: Executor | str | None = executor.value if executor is not None else None
        if dask_address:
            from ..executors.dask_executor import DaskExecutor

            cluster = DaskExecutor(address=dask_address, resource_timeout=resource_timeout)
            chosen = stack.enter_context(cluster)
            adopt_library_loggers()  # Dask's own handlers, installed as it was imported
        running = stack.enter_context(
            ReportingWorker(
                database or None,
                chosen,
                poll_interval=poll,
                lease_ttl=lease_ttl,
                name=name,
                schedules=schedules,
                result_storage=result_storage,
                max_runs=max_runs,
                queues=queue or (DEFAULT_QUEUE,),
            )
        )
        metrics_at = stack.enter_context(serving_metrics(running.engine, metrics_port, metrics_host))
        if metrics_at is not None:
            say(f"worker {running.name} serves metrics on http://{metrics_host}:{metrics_at}/metrics")
        where = running.engine.storage.url
        if once:
            if not running.run_once():
                say(f"no crashed run to resume and no scheduled run to drive in {where}")
            return
        say(
            f"worker {running.name} drives up to {max_runs} runs at once of queue(s) "
            f"{', '.join(running.queues)} from {where} (polls every {poll:g}s); stop it with Ctrl-C "
            "or SIGTERM"
        )
        with stop_on_signals(running, grace):
            running.run()
        say(f"worker {running.name} stopped")


@contextmanager
def stop_on_signals(running: Worker, grace: float) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM ask ``running`` to stop: claim no more runs, let those
    it drives finish for ``grace`` seconds, then hand them back. A second signal hands them
    back at once; a third makes the worker sign off and exit at once, leaving the runs' leases
    to lapse (other workers resume them once they expire)."""
    signals_seen = 0

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            running.stop(grace=grace)
            say(
                f"worker {running.name} claims no more runs; the {running.driving} it drives have "
                f"{grace:g}s to finish, then it hands them back (a second signal: at once)"
            )
            return
        if signals_seen == 2:
            running.stop(grace=0)
            say(f"worker {running.name} hands its runs back now (a third signal exits at once)")
            return
        say(f"worker {running.name} exits now; its runs' leases lapse")
        try:
            running.registry.mark_stopped(running.name)
        finally:
            os._exit(128 + signum)

    with handling_stop_signals(handle):
        yield
