"""On the Dask scheduler: a ledgerflow Dask task's bodies run at most once per attempt.

Dask re-runs a task whose worker died while running it (up to
``distributed.scheduler.allowed-failures`` times), and recomputes a finished task whose result
was lost with its worker: either way its bodies would run again under the attempt (and the
idempotency key) they already ran with, and the log would not know. So before a ledgerflow Dask
task runs its first body, its worker asks this plugin (one round trip). The first start of a
task is allowed and marks it, so that losing its worker from then on errs it with
``KilledWorker`` (the engine records an infrastructure retry: a new attempt); any later start
of that task (a re-run, a recomputation, or a worker the scheduler no longer counts on for it)
is refused, and the worker runs no body. A task lost before it started is left to Dask, which
runs it elsewhere: no body ran, so its attempt and key are still unused.

This module is sent to the scheduler by value (the scheduler need not have ledgerflow
installed): it imports nothing of ledgerflow.
"""

import weakref
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

HANDLER = "ledgerflow_start"  # the scheduler operation a worker calls before a task's first body
PLUGIN_NAME = "ledgerflow-attempt-guard"


class AttemptGuard(SchedulerPlugin):
    """Allows each ledgerflow Dask task to start once; makes a started one err if its worker
    is lost instead of letting Dask run it again."""

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

    def claim(self, key: str, worker: str) -> dict[str, str] | None:
        """A worker is about to run ``key``'s first body: None to go ahead, else why not
        (``reason``) and, if it ran before, on which ``worker``."""
        task = self._scheduler.tasks.get(key)
        if task is None:
            return {"reason": "the scheduler no longer has it (cancelled or released)"}
        if self._started.get(key) is task:
            earlier = self._workers.get(key, "")
            return {
                "reason": f"it ran before, on {earlier or 'a worker'}, which was lost with its outcome; "
                "a body runs at most once per attempt",
                "worker": earlier,
            }
        processing_on = task.processing_on.address if task.processing_on is not None else None
        if processing_on != worker:
            return {"reason": f"the scheduler runs it on {processing_on or 'no worker'}, not on {worker}"}
        self._started[key], self._workers[key] = task, worker
        if len(self._workers) > 2 * len(self._started) + 1000:  # forget the forgotten tasks' workers
            self._workers = {
                known: self._workers[known] for known in list(self._started) if known in self._workers
            }
        # Losing the worker from now on makes it KilledWorker (suspicious > allowed failures).
        task.suspicious = max(task.suspicious, self._scheduler.allowed_failures)
        return None
