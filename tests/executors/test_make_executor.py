"""make_executor: names and objects to executors."""

import distributed
import pytest

from ledgerflow.executors import DaskExecutor, ThreadExecutor, make_executor


@pytest.mark.parametrize("spec", [None, "threads"])
def test_threads_by_default(spec: str | None) -> None:
    executor = make_executor(spec)
    try:
        assert isinstance(executor, ThreadExecutor)
    finally:
        executor.close()


def test_an_executor_is_returned_as_is() -> None:
    with ThreadExecutor(max_workers=1) as executor:
        assert make_executor(executor) is executor


def test_dask_connects_to_the_address_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, dask_client: distributed.Client
) -> None:
    monkeypatch.setenv("LEDGERFLOW_DASK_ADDRESS", dask_client.scheduler.address)
    executor = make_executor("dask")
    try:
        assert isinstance(executor, DaskExecutor)
        assert executor.client.scheduler.address == dask_client.scheduler.address
    finally:
        executor.close()
    assert dask_client.status == "running"


def test_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown executor 'spark'"):
        make_executor("spark")
