"""Caching: hits across runs, misses on new inputs or code, expiry, keys that cannot be made."""

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import ledgerflow as lf

CALLS: list[str] = []


def _work(x: int) -> int:
    CALLS.append(f"work({x})")
    return x * 10


cached_work = lf.task(name="work", cache_key=lf.inputs_hash)(_work)
expiring_work = lf.task(name="work", cache_key=lf.inputs_hash, cache_expiration=timedelta(0))(_work)
daily_work = lf.task(name="work", cache_key=lf.inputs_hash, cache_expiration=timedelta(days=1))(_work)


@lf.task(name="work", cache_key=lf.inputs_hash)
def changed_work(x: int) -> int:
    CALLS.append(f"changed({x})")
    return x * 10


@lf.task(cache_key=lambda inputs: None)
def never_keyed(x: int) -> int:
    CALLS.append("never_keyed")
    return x


@lf.task(cache_key=lf.inputs_hash)
def lock_user(lock: Any) -> int:
    return 1


@lf.flow
def uses(x: int = 1, which: str = "cached") -> Any:
    chosen = {"cached": cached_work, "expiring": expiring_work, "daily": daily_work,
              "changed": changed_work, "never": never_keyed}[which]
    return chosen(x)


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def test_a_second_run_is_served_from_the_cache(engine: lf.Engine) -> None:
    first = engine.run(uses, x=2)
    second = engine.run(uses, x=2)
    assert first.result() == second.result() == 20 and CALLS == ["work(2)"]
    assert second.tasks["work"].state == "CACHED"
    cached = next(e for e in engine.events(second.id) if e.type == "task.cached")
    assert cached.payload["source_run"] == first.id and cached.payload["source_task"] == "work"
    hit_key = cached.payload["cache_key"]
    stored = next(e for e in engine.events(first.id) if e.type == "task.succeeded")
    assert stored.payload["cache_key"] == hit_key  # the decision is explainable from the log


def test_new_inputs_or_new_code_miss(engine: lf.Engine) -> None:
    engine.run(uses, x=2)
    engine.run(uses, x=3)
    engine.run(uses, x=2, which="changed")
    assert CALLS == ["work(2)", "work(3)", "changed(2)"]


def test_expired_entries_are_not_used(engine: lf.Engine) -> None:
    engine.run(uses, x=4, which="expiring")
    engine.run(uses, x=4, which="expiring")
    assert CALLS == ["work(4)", "work(4)"]
    engine.run(uses, x=5, which="daily")
    assert engine.run(uses, x=5, which="daily").tasks["work"].state == "CACHED"


def test_a_key_that_cannot_be_made_runs_the_task_and_says_why(engine: lf.Engine) -> None:
    first = engine.run(uses, x=1, which="never")
    engine.run(uses, x=1, which="never")
    assert CALLS == ["never_keyed", "never_keyed"]
    running = next(e for e in engine.events(first.id) if e.type == "task.running")
    assert running.payload["cache"] == "not cached: cache_key returned None"
    succeeded = next(e for e in engine.events(first.id) if e.type == "task.succeeded")
    assert "cache_key" not in succeeded.payload


def test_inputs_hash_of_an_unhashable_input_gives_no_key() -> None:
    assert lf.inputs_hash({"lock": threading.Lock()}) is None
    assert lf.inputs_hash({"a": 1, "b": [2]}) == lf.inputs_hash({"b": [2], "a": 1})


def test_cache_survives_another_engine(database_url: str, tmp_path: Path) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        engine.run(uses, x=7)
    with lf.Engine(database_url, home=tmp_path) as engine:
        assert engine.run(uses, x=7).tasks["work"].state == "CACHED"
    assert CALLS == ["work(7)"]
