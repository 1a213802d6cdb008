"""The leases of the runs an engine drives: taken with the run's creation, renewed by one
thread for all of them, given up by the run's last append; a one-task run commits two
transactions (created and started, ended)."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

import ledgerflow as lf

from .flows import chain, failing, tiny


def lease_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "ledgerflow-leases"]


@contextmanager
def counted_commits(database: sa.Engine) -> Iterator[list[int]]:
    """Counts the transactions committed on ``database`` while the block runs."""
    commits = [0]

    def count(_connection: sa.Connection) -> None:
        commits[0] += 1

    sa.event.listen(database, "commit", count)
    try:
        yield commits
    finally:
        sa.event.remove(database, "commit", count)


def test_one_thread_renews_the_leases_of_every_run_an_engine_drives(
    database_url: str, tmp_path: Path
) -> None:
    before = len(lease_threads())
    with lf.Engine(database_url, "threads", home=tmp_path) as engine:
        runs = [engine.run(chain, n=2) for _ in range(3)]
        parallel: list[lf.Run] = []
        threads = [threading.Thread(target=lambda: parallel.append(engine.run(chain, n=2))) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(lease_threads()) == before + 1
        for run in [*runs, *parallel]:
            assert run.state == "SUCCEEDED"
            summary = engine.storage.log.run(run.id)
            assert (summary.owner, summary.lease_expires_at) == (None, None)
    assert len(lease_threads()) == before  # closing the engine stops it


def test_a_run_is_created_with_its_start_and_ends_with_its_lease_given_up(
    database_url: str, tmp_path: Path
) -> None:
    with lf.Engine(database_url, "threads", home=tmp_path) as engine:
        engine.run(tiny)  # the schema, the pool and the lease thread are there
        database = engine.storage.database
        assert database is not None
        seen: list[list[str]] = []
        with counted_commits(database) as commits:
            run = engine.run_flow(tiny, {}, on_events=lambda events: seen.append([e.type for e in events]))
        assert run.state == "SUCCEEDED"
        assert commits[0] == 2  # created with the lease, running; ended with the lease given up
        assert seen == [
            ["run.created", "run.running", "task.running"], ["task.succeeded", "run.succeeded"]
        ]
        assert engine.verify(run.id).ok
        summary = engine.storage.log.run(run.id)
        assert (summary.owner, summary.lease_expires_at) == (None, None)
        failed = engine.run(failing)
        assert failed.state == "FAILED" and engine.storage.log.run(failed.id).owner is None
