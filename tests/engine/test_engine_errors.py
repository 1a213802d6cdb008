"""Bad configuration gets a clear error within seconds."""

import time
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.storage import InvalidDatabaseURL, StorageUnavailable


def test_an_invalid_database_url_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidDatabaseURL, match="nosuch://x"):
        lf.Engine("nosuch://x", home=tmp_path)


def test_an_unreachable_database_fails_fast_with_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERFLOW_DB_RETRY_SECONDS", "1")
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match=r"127\.0\.0\.1:1") as caught:
        lf.Engine("postgresql://postgres:secret@127.0.0.1:1/nothing", home=tmp_path)
    assert time.monotonic() - started < 15
    assert "secret" not in str(caught.value)


def test_an_unknown_executor_is_named(tmp_path: Path) -> None:
    with lf.Engine(None, executor="quantum", home=tmp_path) as engine, pytest.raises(
        ValueError, match="quantum"
    ):
        engine.executor  # noqa: B018 - started on first use
