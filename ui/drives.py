"""Resume and restart from the web app, driven in background threads of the server.

``engine.resume`` and ``engine.restart`` drive a run until it ends, in the calling
process. An HTTP request must not wait that long, so each drive gets its own thread (at
most ``max_drives`` at once; more wait their turn) and its own ``Engine`` from the app's
factory, and the request returns once the drive has appended its first events, or has
ended (a refusal such as a restart of an unfinished run is then raised to the request).
Handing the run to ``ledgerflow worker`` processes instead would need workers to be
running and would delay a resume until the old driver's lease expires; driving it here
is what the CLI's ``resume``/``restart`` do, with the same engine calls. The flow must be
importable by the server process (its recorded reference), and secret parameters come
from ``LEDGERFLOW_SECRET_<NAME>`` in its environment. Stopping the server waits for the
drives to end; a server killed meanwhile leaves the run CRASHED, for a worker or a
``resume`` to continue.
"""

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..engine.api import Engine
from ..engine.core.events import Event
from ..engine.recorder import EventListener
from ..engine.run import Run

logger = logging.getLogger(__name__)

EngineFactory = Callable[[], Engine]
DriveCall = Callable[[Engine, EventListener], Run]
FIRST_EVENTS_WAIT = 30.0
"""Seconds a request waits for the drive's first events before answering without them."""


@dataclass(frozen=True, slots=True)
class DriveStarted:
    """How a drive stood when the request returned."""

    run_id: str
    action: str
    state: str
    is_finished: bool
    first_seq: int | None


class Drives:
    """Runs resume and restart calls in background threads, each with its own engine."""

    def __init__(self, engine_factory: EngineFactory, max_drives: int = 4) -> None:
        self._factory = engine_factory
        self._pool = ThreadPoolExecutor(max_drives, thread_name_prefix="ledgerflow-ui-drive")

    def start(
        self, run_id: str, action: str, call: DriveCall, wait: float = FIRST_EVENTS_WAIT
    ) -> DriveStarted:
        """Start ``call`` and return once it appended events or ended; raises its error."""
        appended: list[Event] = []
        progressed = threading.Event()

        def on_events(events: Sequence[Event]) -> None:
            if events and not appended:
                appended.append(events[0])
                progressed.set()

        future = self._pool.submit(self._drive, run_id, action, call, on_events)
        future.add_done_callback(lambda _: progressed.set())
        progressed.wait(wait)
        first_seq = appended[0].seq if appended else None
        if future.done():
            run = future.result()  # raises the drive's refusal or failure
            return DriveStarted(run_id, action, run.state.value, True, first_seq)
        return DriveStarted(run_id, action, "RUNNING", False, first_seq)

    def _drive(self, run_id: str, action: str, call: DriveCall, on_events: EventListener) -> Run:
        with self._factory() as engine:
            try:
                run = call(engine, on_events)
            except Exception as exc:
                logger.warning("run %s: %s from the web app failed: %s", run_id, action, exc)
                raise
        logger.info("run %s: %s from the web app ended %s", run_id, action, run.state.value)
        return run

    def close(self) -> None:
        """Wait for the drives in progress to end, then stop the threads."""
        self._pool.shutdown(wait=True, cancel_futures=True)

