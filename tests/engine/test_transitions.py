"""Every pair of states, allowed or forbidden, as the one table says."""

import itertools

import pytest

from ledgerflow.engine.core.states import RunState, TaskState
from ledgerflow.engine.core.transitions import NEW_ATTEMPT_ONLY, RUN_TRANSITIONS, TASK_TRANSITIONS

T = TaskState
ALLOWED_TASK = {
    (T.PENDING, T.RUNNING), (T.PENDING, T.CACHED), (T.PENDING, T.SKIPPED),
    (T.PENDING, T.UPSTREAM_FAILED), (T.PENDING, T.CANCELLED), (T.PENDING, T.MAPPED),
    (T.PENDING, T.FAILED),
    (T.RUNNING, T.RUNNING), (T.RUNNING, T.SUCCEEDED), (T.RUNNING, T.FAILED),
    (T.RUNNING, T.RETRYING), (T.RUNNING, T.SKIPPED), (T.RUNNING, T.CANCELLED),
    (T.RETRYING, T.RUNNING), (T.RETRYING, T.CANCELLED),
    *[(s, T.PENDING) for s in (T.MAPPED, T.SUCCEEDED, T.CACHED, T.SKIPPED, T.FAILED,
                                T.UPSTREAM_FAILED, T.CANCELLED)],
    # A new drive moves a task back to wait for an input that was not persisted.
    (T.RUNNING, T.PENDING), (T.RETRYING, T.PENDING),
}
R = RunState
ALLOWED_RUN = {
    (R.SCHEDULED, R.RUNNING), (R.SCHEDULED, R.CANCELLED),
    (R.PENDING, R.RUNNING), (R.PENDING, R.CANCELLED), (R.PENDING, R.CRASHED),
    (R.RUNNING, R.RUNNING), (R.RUNNING, R.SUCCEEDED), (R.RUNNING, R.FAILED),
    (R.RUNNING, R.CANCELLED), (R.RUNNING, R.CRASHED),
    (R.CRASHED, R.RUNNING), (R.CRASHED, R.CANCELLED),
    (R.SUCCEEDED, R.RUNNING), (R.FAILED, R.RUNNING), (R.CANCELLED, R.RUNNING),
}


@pytest.mark.parametrize(("source", "target"), list(itertools.product(TaskState, TaskState)))
def test_task_pair(source: TaskState, target: TaskState) -> None:
    assert (target in TASK_TRANSITIONS[source]) == ((source, target) in ALLOWED_TASK)


@pytest.mark.parametrize(("source", "target"), list(itertools.product(RunState, RunState)))
def test_run_pair(source: RunState, target: RunState) -> None:
    assert (target in RUN_TRANSITIONS[source]) == ((source, target) in ALLOWED_RUN)


def test_a_running_task_may_only_start_again_as_a_new_attempt() -> None:
    assert {(T.RUNNING, T.RUNNING)} == NEW_ATTEMPT_ONLY <= ALLOWED_TASK


def test_tables_cover_every_state() -> None:
    assert set(TASK_TRANSITIONS) == set(TaskState)
    assert set(RUN_TRANSITIONS) == set(RunState)


def test_states_are_str_enums_equal_to_their_names() -> None:
    assert TaskState.SUCCEEDED == "SUCCEEDED"
    assert all(state.value == state.name for state in (*TaskState, *RunState))
