"""The runtime loop: drives any number of run hosts on one executor until each has ended.

One thread: it waits for the attempts and hook deliveries of all its runs at once (group
commits: after the first it takes those that end within a short window), tells each run's
host what ended, wakes the runs whose time has come, and looks for cancel requests.
"""

import time
from collections.abc import Sequence
from typing import Any

from ..clock import Clock
from .completions import Completions
from .host import RunHost


def drive(hosts: Sequence[RunHost], completions: "Completions[RunHost]", clock: Clock) -> None:
    """Run every host until its run has ended (each was started with ``RunHost.start``)."""
    active = [host for host in hosts if host.finished is None]
    while active:
        monotonic = time.monotonic()
        for host in active:
            host.poll(monotonic)
        active = [host for host in active if host.finished is None]
        if not active:
            return
        now = clock.now()
        waits = [wait for host in active if (wait := host.timeout(now, monotonic)) is not None]
        taken = completions.take(min(waits) if waits else None)
        ended: dict[RunHost, list[Any]] = {}
        for host, result in taken:
            ended.setdefault(host, []).append(result)
        now = clock.now()
        for host in active:
            if host in ended or host.is_due(now):
                host.completed(ended.get(host, ()))
        active = [host for host in active if host.finished is None]
