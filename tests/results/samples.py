"""Values of many shapes for round-trip tests: numpy arrays (several dtypes, non-contiguous,
0-d), pandas frames and series, mixed objects; and a comparison that also checks types."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def _frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "x": rng.random(rows),
            "n": np.arange(rows, dtype=np.int64) % 11,
            "flag": np.arange(rows) % 3 == 0,
            "label": pd.Categorical(np.array(["a", "b", "c"])[np.arange(rows) % 3]),
            "text": [f"row {i % 5}" for i in range(rows)],
        },
        index=pd.date_range("2026-01-01", periods=rows, freq="s", tz="UTC"),
    )


SAMPLES: dict[str, Callable[[], Any]] = {
    "random float64": lambda: np.random.default_rng(0).random(200_000),
    "int32 steps": lambda: np.arange(300_000, dtype=np.int32) % 7,
    "bool": lambda: np.arange(100_000) % 2 == 0,
    "complex128": lambda: np.arange(50_000) * (1 + 2j),
    "datetime64": lambda: np.arange(100_000).astype("datetime64[s]"),
    "structured": lambda: np.zeros(50_000, dtype=[("x", "f8"), ("y", "i4")]),
    "float32 2-d": lambda: np.ones((300, 400), dtype=np.float32),
    "fortran order": lambda: np.asfortranarray(np.arange(120_000.0).reshape(300, 400)),
    "non-contiguous": lambda: np.arange(400_000.0).reshape(400, 1000)[:, ::3],
    "0-d": lambda: np.array(2.5),
    "small": lambda: np.arange(3),
    "object array": lambda: np.array(["a", 1, None, 2.5], dtype=object),
    "DataFrame": lambda: _frame(50_000),
    "Series": lambda: pd.Series(np.arange(100_000.0), name="s"),
    "mixed": lambda: {
        "arrays": [np.ones(100_000), np.zeros((10, 10), dtype=np.int8)],
        "frame": _frame(20),
        "text": "x" * 10,
        "pair": (1, 2),
    },
    "bytes": lambda: bytes(range(256)) * 1_000,
}


def same(left: Any, right: Any) -> bool:
    """Equal values of the same types at every level (arrays: dtype, shape and elements)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, np.ndarray):
        return left.dtype == right.dtype and left.shape == right.shape and bool(np.array_equal(left, right))
    if isinstance(left, pd.DataFrame):
        return bool(left.equals(right)) and list(left.dtypes) == list(right.dtypes)
    if isinstance(left, pd.Series):
        return bool(left.equals(right)) and left.dtype == right.dtype and left.name == right.name
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[key], right[key]) for key in left)
    if isinstance(left, list | tuple):
        return len(left) == len(right) and all(map(same, left, right))
    return bool(left == right)
