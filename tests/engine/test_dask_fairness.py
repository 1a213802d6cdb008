"""Fairness end to end: ONE ledgerflow worker drives a 50,000-child map and a small run
submitted while the map runs, on a Dask LocalCluster with worker processes; the small run
succeeds while the map's run is still running (as the log's times show)."""

import threading
import time
from pathlib import Path

import cloudpickle
import distributed
import pytest

import ledgerflow as lf

from ..crash.processes import wait_until
from . import flows
from .flows import huge_map, tiny

cloudpickle.register_pickle_by_value(flows)  # the workers cannot import tests

CHILDREN = 50_000
UNDER_WAY = 500  # the small run is submitted once the map's log holds this many more events


@pytest.mark.slow
def test_a_small_run_finishes_while_a_huge_map_runs_on_the_same_worker(
    postgres_url: str, tmp_path: Path, dask_client: distributed.Client
) -> None:
    began = time.perf_counter()
    with lf.Engine(postgres_url, home=tmp_path) as engine:
        log = engine.storage.log
        big = engine.submit(huge_map, n=CHILDREN)
        executor = lf.DaskExecutor(client=dask_client)
        with lf.Worker(postgres_url, executor, home=tmp_path, poll_interval=0.2, schedules=False) as worker:
            driving = threading.Thread(target=worker.run)
            driving.start()
            try:
                wait_until(lambda: log.run(big).head_seq > UNDER_WAY, "the map is under way", seconds=120)
                little = engine.submit(tiny)
                wait_until(lambda: log.run(big).state == "SUCCEEDED", "the map's run ends", seconds=600)
                wait_until(lambda: log.run(little).state == "SUCCEEDED", "the small run ends", seconds=60)
            finally:
                worker.stop()
                driving.join()
        small_events = {e.type: e.ts for e in engine.events(little)}
        big_events = engine.events(big)
    big_end = next(e.ts for e in big_events if e.type == "run.succeeded")
    small_end = small_events["run.succeeded"]
    after = sum(e.type == "task.succeeded" and e.ts > small_end for e in big_events)
    took = {kind: (small_events[kind] - small_events["run.created"]).total_seconds() for kind in small_events}
    print(
        f"\n{CHILDREN:,} children: {time.perf_counter() - began:.1f} s; the small run started "
        f"{took['run.running']:.2f} s and ended {took['run.succeeded']:.2f} s after its submission, "
        f"{(big_end - small_end).total_seconds():.1f} s and {after:,} children before the map's run ended"
    )
    assert small_end < big_end
