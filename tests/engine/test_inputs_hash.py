"""``lf.inputs_hash`` is the same in every process (sets, dicts, dataclasses, numpy, pandas),
tells equal values of different types apart, and gives None with the reason recorded."""

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest

import ledgerflow as lf

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import datetime, decimal, sys
import numpy as np
import pandas as pd
import ledgerflow as lf
inputs = {
    "tags": {"alpha", "beta", "gamma", "delta", "epsilon"},
    "frozen": frozenset({"x", "y", "z"}),
    "nested": {"b": [{"q", "r"}, ("t", 1.5)], "a": None},
    "when": datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.timezone.utc),
    "price": decimal.Decimal("1.10"),
    "array": np.arange(6, dtype="float32").reshape(2, 3),
    "objects": np.array([{"s", "t"}, "u"], dtype=object),
    "frame": pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}, index=["r1", "r2"]),
}
print(lf.inputs_hash(inputs))
"""


def _hash_in_process(seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=ROOT.parent, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_the_same_inputs_hash_alike_under_different_hash_seeds() -> None:
    first, second = _hash_in_process("1"), _hash_in_process("2")
    assert len(first) == 64 and first == second


class Pair(NamedTuple):
    a: Any
    b: Any


@dataclass
class Box:
    a: Any
    b: Any


class Colour(Enum):
    RED = 1


def test_dict_order_does_not_matter_but_types_and_values_do() -> None:
    h = lf.inputs_hash
    assert h({"a": 1, "b": {"x": 1, "y": 2}}) == h({"b": {"y": 2, "x": 1}, "a": 1})
    assert h({"s": {3, 1, 2}}) == h({"s": {1, 2, 3}})
    distinct = [
        1, 1.0, True, "1", b"1", [1], (1,), {1}, frozenset({1}), Pair(1, 2), (1, 2), Box(1, 2),
        None, float("nan"), 0.0, -0.0, Colour.RED, np.int64(1), np.array([1]), np.array([1.0]),
        pd.Series([1]), pd.Series([1], name="n"), {"a": 1}, {"a": 1.0}, [[1]], [1, [2]], [[1], 2],
    ]  # fmt: skip
    hashes = [h({"x": value}) for value in distinct]
    assert None not in hashes
    assert len(set(hashes)) == len(distinct)


def test_an_input_without_a_deterministic_encoding_gives_no_key() -> None:
    assert lf.inputs_hash({"lock": threading.Lock()}) is None
    loop: list[Any] = [1]
    loop.append(loop)
    assert lf.inputs_hash({"loop": loop}) is None


CALLS: list[str] = []


@lf.task(cache_key=lf.inputs_hash)
def uses_lock(options: dict[str, Any]) -> int:
    CALLS.append("ran")
    return 1


@lf.flow
def with_lock() -> Any:
    return uses_lock({"retries": [1, {"guard": threading.Lock()}]})


def test_the_reason_for_no_key_is_recorded_with_the_attempt(engine: lf.Engine) -> None:
    CALLS.clear()
    run = engine.run(with_lock)
    engine.run(with_lock)
    assert run.state == "SUCCEEDED" and CALLS == ["ran", "ran"]
    running = next(e for e in engine.events(run.id) if e.type == "task.running")
    assert running.payload["cache"] == (
        "not cached: cache_key returned None; inputs['options']['retries'][1]['guard'] "
        "is a _thread.lock, which has no deterministic encoding"
    )


@pytest.mark.parametrize("value", [{"k", "l"}, np.arange(3), pd.Series([1.5, 2.5])])
def test_inputs_that_pickle_could_not_key_stably_are_cached(engine: lf.Engine, value: Any) -> None:
    @lf.task(name="stable", cache_key=lf.inputs_hash)
    def stable(x: Any) -> int:
        return 1

    @lf.flow(name="stable_flow")
    def stable_flow() -> Any:
        return stable(value)

    engine.run(stable_flow)
    assert engine.run(stable_flow).tasks["stable"].state == "CACHED"
