"""While runs are driven, the cyclic garbage collector collects young objects less often;
the process's own thresholds come back after the last drive, unless changed meanwhile."""

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.engine.runtime.collector_pace import YOUNG_THRESHOLD, pace, paced, unpace

from .flows import chain


@pytest.fixture(autouse=True)
def kept_thresholds() -> Iterator[tuple[int, ...]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield before
    finally:
        gc.set_threshold(*before)


def test_nested_drives_pace_the_collector_until_the_last_one_ends() -> None:
    with paced():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
        pace()
        unpace()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_thresholds_changed_during_a_drive_are_kept() -> None:
    with paced():
        gc.set_threshold(2000, 5, 5)
    assert gc.get_threshold() == (2000, 5, 5)


@pytest.mark.parametrize("own", [(50_000, 10, 10), (0, 10, 10)])
def test_a_process_collecting_less_often_or_never_is_left_as_it_is(own: tuple[int, int, int]) -> None:
    gc.set_threshold(*own)
    with paced():
        assert gc.get_threshold() == own
    assert gc.get_threshold() == own


def test_a_run_is_traced_and_driven_paced(database_url: str, tmp_path: Path) -> None:
    seen: list[tuple[int, ...]] = []
    with lf.Engine(database_url, "threads", home=tmp_path) as engine:
        run = engine.run_flow(chain, {"n": 2}, on_events=lambda _: seen.append(gc.get_threshold()))
    assert run.state == "SUCCEEDED"
    assert seen and set(seen) == {(YOUNG_THRESHOLD, 10, 10)}
    assert gc.get_threshold() == (700, 10, 10)


def _is_walked(obj: object) -> bool:
    """Whether the collector's generations hold ``obj`` (a frozen object is in none)."""
    return any(found is obj for found in gc.get_objects())


def test_the_objects_of_before_a_drive_are_frozen_until_it_ends() -> None:
    older: list[object] = []
    with paced():
        assert not _is_walked(older)
        newer: list[object] = []
        with paced():  # a nested drive freezes nothing more
            assert _is_walked(newer)
        assert not _is_walked(older)
    assert _is_walked(older)


def test_objects_the_process_froze_itself_stay_frozen() -> None:
    older: list[object] = []
    gc.freeze()
    try:
        with paced():
            assert not _is_walked(older)
        assert not _is_walked(older)
    finally:
        gc.unfreeze()
    assert _is_walked(older)
