"""How the Dask executor batches a function's invocations: probes first, then by measured body
durations (pure: no cluster)."""

from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

from ledgerflow.executors.dask_chunks import CHUNK_CAP, CHUNK_SECONDS, ChunkPlan
from ledgerflow.executors.dask_tasks import Group, Member
from ledgerflow.executors.invocation import Outcome, OutcomeStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def work(x: int) -> int:
    return x


def members(run_id: str, count: int) -> list[Member]:
    fields: tuple[Any, ...] = (run_id, "work", 1, work)
    return [Member(Future(), f"work[{i}]", 1, (fields, {}, {}), False) for i in range(count)]


def ran(seconds: float, *, has_run: bool = True) -> Outcome:
    return Outcome(
        "work[0]", 1, OutcomeStatus.SUCCEEDED, T0, T0 + timedelta(seconds=seconds), has_run=has_run
    )


def sizes(batches: list[list[Member]]) -> list[int]:
    return [len(batch) for batch in batches]


GROUP: Group = ("r", work, ())


def test_an_unmeasured_function_probes_singly_and_the_rest_wait_for_a_probe() -> None:
    plan = ChunkPlan(lambda: 2)
    sent = plan.plan(GROUP, members("r", 100))
    assert [(len(batch), is_probe) for batch, is_probe in sent] == [(1, True), (1, True)]
    assert plan.plan(GROUP, members("r", 3)) == []  # both threads probe: these wait too
    released = plan.ended(GROUP, [ran(0.004)], is_probe=True)  # 4 ms a body: 5 to a batch
    assert sum(sizes(released)) == 101 and max(sizes(released)) == round(CHUNK_SECONDS / 0.004)
    assert plan.ended(GROUP, [ran(0.004)], is_probe=True) == []  # nothing waits any more


def test_a_measured_function_batches_tiny_bodies_and_never_slow_ones() -> None:
    plan = ChunkPlan(lambda: 2)
    plan.plan(GROUP, members("r", 1))
    plan.ended(GROUP, [ran(0.00001)], is_probe=True)
    assert sizes([batch for batch, _ in plan.plan(GROUP, members("r", 10_000))]) == [CHUNK_CAP] * 50
    plan.ended(GROUP, [ran(2.5)], is_probe=False)  # one slow body: no more batches
    assert sizes([batch for batch, _ in plan.plan(GROUP, members("r", 5))]) == [1] * 5


def test_a_probe_that_ran_no_body_releases_the_waiting_blindly_and_take_empties_a_run() -> None:
    plan = ChunkPlan(lambda: 1)
    plan.plan(GROUP, members("r", 9))
    plan.plan(("s", work, ()), members("s", 4))
    assert sizes(plan.ended(GROUP, [ran(0.3, has_run=False)], is_probe=True)) == [2, 2, 2, 2]
    assert [member.task_key for member in plan.take("s")] == ["work[1]", "work[2]", "work[3]"]
    assert plan.take() == []
