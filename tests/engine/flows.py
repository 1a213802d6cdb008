"""Tasks and flows used by the engine tests (importable, so Dask workers can load them)."""

import time
from typing import Any

import ledgerflow as lf


@lf.task
def inc(x: int) -> int:
    return x + 1


@lf.task
def add(x: int, y: int) -> int:
    return x + y


@lf.task
def total(xs: list[int]) -> int:
    return sum(xs)


@lf.task
def numbers(n: int) -> list[int]:
    return list(range(n))


@lf.task
def boom(x: Any = None) -> int:
    raise ValueError(f"boom on {x}")


@lf.task
def skipper(x: Any = None) -> int:
    raise lf.Skip("nothing to do")


@lf.task(trigger="all_finished")
def cleanup(x: Any = None) -> str:
    return "cleaned"


@lf.task(trigger="any_failed")
def alert(x: Any = None) -> str:
    return "alerted"


@lf.task(retries=3, retry_delay=0.01, retry_backoff=2.0, retry_on=(OSError,))
def flaky(x: int) -> int:
    if lf.context().attempt < 3:
        raise OSError(f"transient failure {lf.context().attempt}")
    return x


@lf.task(retries=3, retry_delay=0.01, retry_on=(OSError,))
def wrong_kind(x: int) -> int:
    raise KeyError("not retried")


@lf.task(timeout=0.2, retries=1)
def sleepy(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


@lf.task
def lock_maker() -> Any:
    import threading

    return threading.Lock()


@lf.task
def pickled() -> Any:
    return {(1, 2): {"a set", "of strings"}}


@lf.task
def big() -> list[int]:
    return list(range(2000))


@lf.flow
def chain(n: int = 3) -> Any:
    xs = inc.map(list(range(n)))
    first = total(xs)
    second = total(inc.map(numbers(n)))
    return {"first": first, "second": second, "more": inc(add(first, second))}


@lf.flow
def failing() -> Any:
    bad = boom(1)
    return [inc(bad), cleanup(bad), alert(bad)]


@lf.flow
def skipping() -> Any:
    return inc(skipper())


@lf.flow
def retrying(x: int = 5) -> Any:
    return flaky(x)


@lf.flow
def not_retried() -> Any:
    return wrong_kind(1)


@lf.flow
def timing_out(seconds: float = 5.0) -> Any:
    return sleepy(seconds)


@lf.flow
def unserializable() -> Any:
    return lock_maker()


@lf.flow
def results_of_every_kind() -> Any:
    return {"pickled": pickled(), "big": big()}


@lf.flow
def mapped_twice(n: int = 3, offset: int = 10) -> Any:
    doubled = add.map(numbers(n), y=lf.unmapped(offset))
    again = inc.map(doubled)
    return {"again": again, "sum": total(again)}


@lf.flow
def wide(n: int = 100) -> Any:
    return total(inc.map(list(range(n))))


@lf.task
def noop(x: int) -> None:
    return None


@lf.flow
def huge_map(n: int) -> None:
    noop.map(list(range(n)))


@lf.flow
def tiny() -> None:
    noop(0)
