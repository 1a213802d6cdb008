"""The flow the lifecycle tests run: a stored list, and its squares cached by their inputs."""

from typing import Any

import ledgerflow as lf


@lf.task
def numbers(n: int) -> list[int]:
    return list(range(n))


@lf.task(cache_key=lf.inputs_hash)
def squares(values: list[int]) -> list[int]:
    return [v * v for v in values]


@lf.flow
def squared(n: int = 200) -> Any:
    return squares(numbers(n))
