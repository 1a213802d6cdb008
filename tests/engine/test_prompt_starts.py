"""A run submitted to an idle worker starts at once on PostgreSQL (LISTEN/NOTIFY), long
before the worker's next poll, also after its listening connection was cut. The 100 ms
figure is measured in benchmarks/bench_many_runs.py; the bound here is wide."""

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import ledgerflow as lf
from ledgerflow.storage.claim_notices import CLAIM_LISTENER_NAME

from ..crash.processes import wait_until
from .flows import chain

POLL = 10.0  # the worker's poll interval: a start that waited for it fails the test
BOUND = 2.0  # seconds from submission to run.running


@pytest.fixture
def idle_worker(postgres_url: str, tmp_path: Path) -> Iterator[lf.Worker]:
    """A worker polling every ``POLL`` s, running in a thread, listening and idle."""
    with lf.Worker(postgres_url, home=tmp_path, poll_interval=POLL, schedules=False) as worker:
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            wait_until(lambda: worker.is_listening, "the worker listens", seconds=30)
            yield worker
        finally:
            worker.stop()
            thread.join()


def start_latency(engine: lf.Engine) -> float:
    """Submit a run, wait for its end (well within the poll); seconds from its creation to
    its start, as its events record them."""
    run_id = engine.submit(chain, n=1)
    wait_until(
        lambda: engine.storage.log.run(run_id).state == "SUCCEEDED", "the run ends", seconds=POLL * 0.8
    )
    stamps = {event.type: event.ts for event in engine.events(run_id)}
    return (stamps["run.running"] - stamps["run.created"]).total_seconds()


def test_a_run_submitted_to_an_idle_worker_starts_at_once(
    idle_worker: lf.Worker, postgres_url: str, tmp_path: Path
) -> None:
    with lf.Engine(postgres_url, home=tmp_path) as engine:
        latencies = [start_latency(engine) for _ in range(3)]  # idle again after each
    print(f"submit-to-start latency, idle worker polling every {POLL:g} s: "
          + ", ".join(f"{latency * 1000:.0f} ms" for latency in latencies))  # fmt: skip
    assert max(latencies) < BOUND


def test_a_worker_listens_again_after_its_connection_was_cut(
    idle_worker: lf.Worker, postgres_url: str, tmp_path: Path
) -> None:
    admin = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    terminate = sa.text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = :name AND datname = current_database()"
    )
    try:
        with admin.begin() as connection:
            assert connection.execute(terminate, {"name": CLAIM_LISTENER_NAME}).scalars().all() == [True]
    finally:
        admin.dispose()
    with lf.Engine(postgres_url, home=tmp_path) as engine:
        assert start_latency(engine) < BOUND  # announced, or claimed when it listens again
    wait_until(lambda: idle_worker.is_listening, "the worker listens again", seconds=30)
