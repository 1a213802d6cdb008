"""Fixtures of the executor suite: one LocalCluster with worker processes per session."""

from collections.abc import Iterator

import pytest

from ledgerflow.executors import DaskExecutor, Executor, ThreadExecutor


@pytest.fixture(params=["threads", "dask"])
def executor(request: pytest.FixtureRequest) -> Iterator[Executor]:
    """Each executor in turn; the Dask one runs on the session's cluster."""
    if request.param == "threads":
        with ThreadExecutor() as threads:
            yield threads
    else:
        client = request.getfixturevalue("dask_client")
        with DaskExecutor(client=client) as dask:
            yield dask
