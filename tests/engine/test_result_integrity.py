"""Every load of a stored result checks its size and sha256 against the event: a result
edited, truncated, swapped or deleted in the database fails the task that needs it (it never
reaches user code), ``run.result()`` raises, and ``verify(results=True)`` names it. On SQLite
and PostgreSQL."""

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow

FLOWS = textwrap.dedent(
    """
    import ledgerflow as lf


    @lf.task
    def review(claim: str, approved: bool = False) -> dict:
        return {"claim": claim, "approved": approved, "notes": "n" * 2000}  # > 1 KiB: stored


    @lf.task
    def decide(review: dict) -> str:
        return "PAY" if review["approved"] else "REJECT"


    @lf.task
    def both(first: str, second: str) -> list[str]:
        return [first, second]


    @lf.task
    def members() -> set[str]:
        return {"ann", "bob"}  # not JSON: a signed pickle


    @lf.task
    def count(names: set[str]) -> int:
        return len(names)


    @lf.flow
    def payout(claim: str = "c-1"):
        return decide(review(claim))


    @lf.flow
    def two_claims():
        return both(decide(review("a", False)), decide(review("b", True)))


    @lf.flow
    def team():
        return count(members())


    @lf.flow
    def the_review():
        return review("c-9")
    """
)

Tamper = Callable[[sa.Connection, str], None]


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    path = tmp_path / "claims_flows.py"
    path.write_text(FLOWS)
    return path


def stored(connection: sa.Connection, ref: str) -> bytes:
    row = connection.execute(sa.text("SELECT data FROM results WHERE ref = :ref"), {"ref": ref}).one()
    return bytes(row.data)


def rewrite(connection: sa.Connection, ref: str, data: bytes) -> None:
    connection.execute(
        sa.text("UPDATE results SET data = :data WHERE ref = :ref"), {"data": data, "ref": ref}
    )


def approve(connection: sa.Connection, ref: str) -> None:
    """Edit the JSON bytes in place, same size: the rejected claim now reads approved."""
    data = stored(connection, ref)
    assert b'"approved":false' in data
    rewrite(connection, ref, data.replace(b'"approved":false', b'"approved":true '))


def truncate(connection: sa.Connection, ref: str) -> None:
    rewrite(connection, ref, stored(connection, ref)[:100])


def delete(connection: sa.Connection, ref: str) -> None:
    connection.execute(sa.text("DELETE FROM results WHERE ref = :ref"), {"ref": ref})


def tampered(engine: lf.Engine, change: Tamper, ref: str) -> None:
    with engine.storage.database.begin() as connection:
        change(connection, ref)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (approve, "its sha256 differs from the recorded one"),
        (truncate, "100 bytes where"),
        (delete, "nothing is stored under"),
    ],
    ids=["edited", "truncated", "deleted"],
)
def test_a_tampered_upstream_fails_the_restarted_task_instead_of_paying(
    database_url: str, tmp_path: Path, flows: Path, change: Tamper, reason: str
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(load_flow(f"{flows}:payout"))
        assert run.state == "SUCCEEDED" and run.result() == "REJECT"
        expected = run.tasks["review"].result["sha256"]
        tampered(engine, change, f"{run.id}/review/1")
        again = engine.restart(run.id, from_task="decide")
        assert again.state == "FAILED" and again.tasks["decide"].state == "FAILED"
        error = again.tasks["decide"].error
        assert error is not None and error["type"] == "ledgerflow.results.errors.ResultCorrupted"
        message = error["message"]
        assert message.startswith("task 'decide' could not receive its inputs: ")
        assert f"run {run.id}, task review" in message and expected in message and reason in message
        assert engine.verify(run.id).ok  # the chain holds: the events were not touched
        report = engine.verify(run.id, results=True)
        assert not report.ok and report.chain_holds and report.results is not None
        (problem,) = report.results.problems
        assert (problem.task_key, problem.ref, problem.expected) == ("review", f"{run.id}/review/1", expected)
        assert reason in problem.reason


def test_results_swapped_between_two_tasks_are_refused(
    database_url: str, tmp_path: Path, flows: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(load_flow(f"{flows}:two_claims"))
        assert run.result() == ["REJECT", "PAY"]
        first, second = f"{run.id}/review/1", f"{run.id}/review-1/1"
        with engine.storage.database.begin() as connection:
            a, b = stored(connection, first), stored(connection, second)
            rewrite(connection, first, b)
            rewrite(connection, second, a)
        again = engine.restart(run.id, from_task="decide")
        assert again.state == "FAILED"
        error = again.tasks["decide"].error
        assert error is not None and error["type"].endswith("ResultCorrupted")
        report = engine.verify(run.id, results=True)
        assert report.results is not None and report.results.checked == 2
        assert sorted(p.task_key for p in report.results.problems) == ["review", "review-1"]


def test_an_edited_pickle_is_corrupted_before_its_signature_is_checked(
    database_url: str, tmp_path: Path, flows: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(load_flow(f"{flows}:team"))
        assert run.result() == 2 and run.tasks["members"].result["format"] == "pickle"
        ref = f"{run.id}/members/1"
        with engine.storage.database.begin() as connection:
            data = stored(connection, ref)
            rewrite(connection, ref, data.replace(b"bob", b"eve"))
        again = engine.restart(run.id, from_task="count")
        error = again.tasks["count"].error
        assert error is not None and error["type"].endswith("ResultCorrupted")


def test_run_result_raises_for_a_tampered_result(database_url: str, tmp_path: Path, flows: Path) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(load_flow(f"{flows}:the_review"))
        assert run.result()["approved"] is False
        tampered(engine, approve, f"{run.id}/review/1")
        with pytest.raises(lf.ResultCorrupted, match=f"run {run.id}, task review") as raised:
            engine.get_run(run.id).result()
        assert raised.value.expected == run.tasks["review"].result["sha256"]
        assert raised.value.found != raised.value.expected


def test_verify_results_of_an_untouched_run(database_url: str, tmp_path: Path, flows: Path) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(load_flow(f"{flows}:two_claims"))
        report = engine.verify(run.id, results=True)
        assert report.ok and report.results is not None
        assert (report.results.checked, report.results.problems) == (2, ())
        assert engine.verify(run.id).results is None  # not asked: not re-hashed
