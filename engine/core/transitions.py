"""The one table of allowed state transitions, for tasks and for runs."""

from collections.abc import Mapping

from .states import RunState, TaskState

_T = TaskState
_REOPEN = frozenset({_T.PENDING})  # restart re-opens a finished task
# A new drive moves an orphaned attempt (RUNNING) or a retry wait (RETRYING) back to PENDING
# when an input it needs was not persisted and runs again first (engine/core/recompute.py).

TASK_TRANSITIONS: Mapping[TaskState, frozenset[TaskState]] = {
    _T.PENDING: frozenset(
        {_T.RUNNING, _T.CACHED, _T.SKIPPED, _T.UPSTREAM_FAILED, _T.CANCELLED, _T.MAPPED, _T.FAILED}
    ),
    # RUNNING -> RUNNING: a new attempt after the driver running it died (see NEW_ATTEMPT_ONLY).
    _T.RUNNING: frozenset(
        {_T.RUNNING, _T.SUCCEEDED, _T.FAILED, _T.RETRYING, _T.SKIPPED, _T.CANCELLED, _T.PENDING}
    ),
    _T.RETRYING: frozenset({_T.RUNNING, _T.CANCELLED, _T.PENDING}),
    _T.MAPPED: _REOPEN,
    _T.SUCCEEDED: _REOPEN,
    _T.CACHED: _REOPEN,
    _T.SKIPPED: _REOPEN,
    _T.FAILED: _REOPEN,
    _T.UPSTREAM_FAILED: _REOPEN,
    _T.CANCELLED: _REOPEN,
}

# Pairs the table allows only for an event that starts a new attempt: its attempt number
# greater than the task's last. A second start of the same attempt (a double submission)
# is refused.
NEW_ATTEMPT_ONLY: frozenset[tuple[TaskState, TaskState]] = frozenset({(_T.RUNNING, _T.RUNNING)})

_R = RunState

RUN_TRANSITIONS: Mapping[RunState, frozenset[RunState]] = {
    _R.SCHEDULED: frozenset({_R.RUNNING, _R.CANCELLED}),
    _R.PENDING: frozenset({_R.RUNNING, _R.CANCELLED, _R.CRASHED}),
    # RUNNING -> RUNNING: another driver took the run over (resume).
    _R.RUNNING: frozenset({_R.RUNNING, _R.SUCCEEDED, _R.FAILED, _R.CANCELLED, _R.CRASHED}),
    _R.CRASHED: frozenset({_R.RUNNING, _R.CANCELLED}),
    # A finished run may be restarted.
    _R.SUCCEEDED: frozenset({_R.RUNNING}),
    _R.FAILED: frozenset({_R.RUNNING}),
    _R.CANCELLED: frozenset({_R.RUNNING}),
}

# run.cancel_requested changes no state: it is allowed while the run has not finished.
CANCEL_REQUESTABLE: frozenset[RunState] = frozenset({_R.SCHEDULED, _R.PENDING, _R.RUNNING, _R.CRASHED})
# run.handed_back changes no state: the driver of a RUNNING run let go of it for another.
HANDBACKABLE: frozenset[RunState] = frozenset({_R.RUNNING})
# hook.sent / hook.failed change no state: they follow a trigger, also the run's terminal event.
HOOK_RECORDABLE: frozenset[RunState] = frozenset(
    {_R.RUNNING, _R.SUCCEEDED, _R.FAILED, _R.CANCELLED, _R.CRASHED}
)

