"""The runtime: carries out the run machines' commands against the ports (log, results,
cache, limits, leases, executor, hooks) and feeds the answers back as stimuli.

``RunHost`` serves one machine; ``RunLoop`` drives any number of hosts on one executor,
with runs joining while others are driven; ``drive_runs`` drives runs from their logs to
their ends in one loop.
"""

from collections.abc import Sequence

from ..core.fold import RunView
from .collector_pace import paced
from .loop import DriveEnded, RunLoop
from .runs import RunPorts, RunToDrive, task_policies

__all__ = [
    "DriveEnded", "RunLoop", "RunPorts", "RunToDrive", "drive_run", "drive_runs", "paced", "task_policies",
]  # fmt: skip


def drive_runs(runs: Sequence[RunToDrive], ports: RunPorts) -> list[RunView]:
    """Drive the runs in one loop on one executor until each has ended; their final states.
    The first error that ended a run's drive is raised once every other run has ended."""
    loop = RunLoop(ports)
    ended: dict[str, DriveEnded] = {}
    try:
        for run in runs:
            loop.add(run)
        ended.update((end.run_id, end) for end in loop.step(0))
        while loop.active:
            ended.update((end.run_id, end) for end in loop.step())
    finally:
        loop.close()
    errors = [end.error for end in ended.values() if end.error is not None]
    if errors:
        raise errors[0]
    return [ended[run.events[0].run_id].view for run in runs]


def drive_run(run: RunToDrive, ports: RunPorts) -> RunView:
    """Drive one run until every task has settled or the run is cancelled; its final state."""
    return drive_runs([run], ports)[0]
