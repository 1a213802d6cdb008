"""On the Dask scheduler and workers: a ledgerflow Dask task's bodies run at most once per attempt.

Dask re-runs a task whose worker died while running it (up to
``distributed.scheduler.allowed-failures`` times), and recomputes a finished task whose result
was lost with its worker: either way its bodies would run again under the attempt (and the
idempotency key) they already ran with, and the log would not know. So:

- Before a ledgerflow Dask task runs its first body, its worker tells the scheduler's guard
  that it starts (``StartClaims`` sends it from the worker's event loop as the task starts
  executing; a one-way message, written to the socket before the body runs: no wait for the
  scheduler). From then on, losing that worker errs the task with ``KilledWorker`` (the engine
  records an infrastructure retry: a new attempt, a new key) instead of Dask running it again.
- A ledgerflow task that Dask sends out again (its worker was lost while it ran or held its
  result) is marked, and the worker that gets it asks first (a round trip): if the task had
  started before, it is refused and runs no body. A task lost before it started runs: no body
  ran, so its attempt and key are still unused.

The guard also hands the driver the outcomes a ledgerflow Dask task reports as it finishes:
``run_members`` puts them, light (without the values of stored results), in its task's
metadata, which Dask carries to the scheduler with the task's end; the driver takes them with
one call per batch of finished tasks (``OUTCOMES``), instead of a follower task per Dask task
that strips the outcomes for it.

This module is sent to the scheduler by value (the scheduler need not have ledgerflow
installed): it imports nothing of ledgerflow.
"""

import concurrent.futures
import logging
import sys
import weakref
from typing import Any

import cloudpickle
import distributed
from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

logger = logging.getLogger(__name__)

HANDLER = "ledgerflow_start"  # the scheduler operation a worker calls before a task's first body
PLUGIN_NAME = "ledgerflow-attempt-guard"
CLAIMS_NAME = "ledgerflow-start-claims"
ASK = "ledgerflow_ask"  # the annotation of a task sent out again: its worker asks before it starts
KEY_PREFIX = "lf-"  # the Dask keys of ledgerflow's tasks
OUTCOMES = "ledgerflow_outcomes"  # the scheduler operation the driver takes reported outcomes with
REPORTED = "ledgerflow-outcomes"  # the task metadata that holds them (pickled light outcomes)


def install(client: distributed.Client) -> tuple[bool, bool]:
    """Register the ``AttemptGuard`` on the client's scheduler and ``StartClaims`` on its workers
    (this module is sent by value): whether the guard runs (False, with a warning, if the
    cluster refuses it) and whether it serves reported outcomes (a guard registered earlier by
    a ledgerflow that did not may hold the scheduler)."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        client.register_plugin(AttemptGuard(), name=PLUGIN_NAME)
        client.register_plugin(StartClaims(), name=CLAIMS_NAME)
    except Exception as exc:
        logger.warning(
            "the Dask cluster did not take ledgerflow's attempt guard (%r): Dask may run a body "
            "again, under the same attempt, when its worker dies", exc,
        )  # fmt: skip
        return False, False
    try:
        return True, bool(client.run_on_scheduler(_serves_outcomes))  # type: ignore[no-untyped-call]
    except Exception:  # the outcomes then come through follower tasks
        return True, False


def _serves_outcomes(dask_scheduler: Any) -> bool:
    return OUTCOMES in dask_scheduler.handlers


class AttemptGuard(SchedulerPlugin):
    """Records each ledgerflow Dask task's start; makes a started one err if its worker is lost
    instead of letting Dask run it again, and refuses any later start of it."""

    idempotent = True  # one per scheduler, however many executors register it

    _scheduler: Any
    _started: "weakref.WeakValueDictionary[str, Any]"
    _workers: dict[str, str]  # key -> the worker it started on (pruned to the started ones)

    async def start(self, scheduler: Any) -> None:
        """On the scheduler (the plugin is pickled without state): serve the workers' claims."""
        self._scheduler = scheduler
        # key -> its task state, while the scheduler holds it (a key submitted again is a new one)
        self._started, self._workers = weakref.WeakValueDictionary(), {}
        scheduler.handlers[HANDLER] = self.claim
        scheduler.handlers[OUTCOMES] = self.outcomes

    def claim(self, key: str, worker: str) -> dict[str, str] | None:
        """``worker`` is about to run ``key``'s first body: None if it may, else why not
        (``reason``) and where it ran before (``worker``). Only a worker that asks hears it."""
        task = self._scheduler.tasks.get(key)
        if task is None:
            return {"reason": "the scheduler no longer has it (cancelled or released)"}
        if self._started.get(key) is task:
            earlier = self._workers.get(key, "")
            reason = (
                f"it ran before, on {earlier or 'a worker'}, which was lost; a body runs once per attempt"
            )
            return {"reason": reason, "worker": earlier}
        self._started[key], self._workers[key] = task, worker
        if len(self._workers) > 2 * len(self._started) + 1000:  # forget the forgotten tasks' workers
            self._workers = {
                known: self._workers[known] for known in list(self._started) if known in self._workers
            }
        if task.processing_on is not None and task.processing_on.address == worker:
            # Losing the worker from now on makes it KilledWorker (suspicious > allowed failures).
            task.suspicious = max(task.suspicious, self._scheduler.allowed_failures)
        return None

    def outcomes(self, keys: list[str]) -> dict[str, bytes | None]:
        """The outcomes each task of ``keys`` reported as it finished (taken: asked once), None
        for a task that reported none (forgotten, or lost before it ended)."""
        taken: dict[str, bytes | None] = {}
        for key in keys:
            task = self._scheduler.tasks.get(key)
            metadata = task.metadata if task is not None else None
            taken[key] = metadata.pop(REPORTED, None) if metadata else None
        return taken

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        """A ledgerflow task released while it ran or held its result (its worker was lost) may
        be sent out again: mark it, so that its next worker asks before it starts."""
        if finish != "released" or (start != "processing" and start != "memory"):
            return
        if isinstance(key, str) and key.startswith(KEY_PREFIX):
            task = self._scheduler.tasks.get(key)
            if task is not None:  # a new dict: annotations may be shared between tasks
                task.annotations = {**(task.annotations or {}), ASK: True}


class StartClaims(WorkerPlugin):
    """On each worker: as a ledgerflow Dask task starts executing, sends its claim to the
    scheduler's guard from the event loop (no hand-over from the task's thread), asking for an
    answer only if Dask sent the task out again. The task's thread waits for ``claims[key]``."""

    idempotent = True

    _worker: Any
    claims: dict[str, "concurrent.futures.Future[Any]"]

    def setup(self, worker: Any) -> None:
        self._worker, self.claims = worker, {}

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if start == "executing":
            self.claims.pop(key, None)
        elif finish == "executing" and isinstance(key, str) and key.startswith(KEY_PREFIX):
            self.claims[key] = send_claim(self._worker, key)


def send_claim(worker: Any, key: str) -> "concurrent.futures.Future[Any]":
    """Send ``key``'s claim from ``worker``'s event loop, asking for the guard's answer only if
    Dask sent the task out again; the future gives the answer (None once written, if not asked)."""
    task = worker.state.tasks.get(key)
    asks = task is not None and bool((task.annotations or {}).get(ASK))
    call, answer = getattr(worker.scheduler, HANDLER), concurrent.futures.Future[Any]()

    async def send() -> None:
        try:
            answer.set_result(await call(key=key, worker=worker.address, reply=asks))
        except Exception as exc:
            answer.set_exception(exc)

    worker.loop.add_callback(send)
    return answer
