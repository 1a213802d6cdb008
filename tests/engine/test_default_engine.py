"""The engine ``flow.run()`` uses is made once, whichever threads ask, and closed at exit."""

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ledgerflow as lf
from ledgerflow.engine import api


@pytest.fixture
def fresh_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], None]]:
    """No default engine yet; returns the functions registered to run at exit."""
    monkeypatch.setenv("LEDGERFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("LEDGERFLOW_DATABASE_URL", raising=False)
    monkeypatch.setattr(api, "_default", None)
    registered: list[Callable[[], None]] = []
    monkeypatch.setattr(api.atexit, "register", registered.append)
    return registered


def test_threads_asking_at_once_get_one_engine(
    fresh_default: list[Callable[[], None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[lf.Engine] = []
    other: list[lf.Engine] = []
    asking = threading.Thread(target=lambda: other.append(api.default_engine()))

    def make(*args: Any, **kwargs: Any) -> lf.Engine:
        if not made:  # a second thread asks while the first is still making its engine
            asking.start()
            asking.join(timeout=0.5)  # it waits for the first (or, unlocked, makes its own)
        engine = lf.Engine(*args, **kwargs)
        made.append(engine)
        return engine

    monkeypatch.setattr(api, "Engine", make)
    first = api.default_engine()
    asking.join()
    try:
        assert other == [first] and made == [first]
    finally:
        for engine in made:
            engine.close()


def test_the_default_engine_is_closed_at_exit(fresh_default: list[Callable[[], None]]) -> None:
    engine = api.default_engine()
    assert fresh_default == [engine.close]
    assert api.default_engine() is engine and len(fresh_default) == 1
    engine.close()
