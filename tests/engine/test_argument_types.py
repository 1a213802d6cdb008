"""A named tuple, a dataclass or a dict subclass given to a task reaches it as that type,
with the task results inside it resolved (threads and Dask); a secret inside one is keyed."""

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple

import ledgerflow as lf
from ledgerflow.engine.secrets import RunSecrets, SecretHasher

from . import flows


class Window(NamedTuple):
    start: Any
    stop: Any


@dataclass(frozen=True)
class Settings:
    alpha: Any
    name: str = "s"


class Labels(OrderedDict[str, Any]):
    pass


@lf.task
def describe(window: Window, settings: Settings, labels: Labels) -> dict[str, Any]:
    return {
        "types": [type(window).__name__, type(settings).__name__, type(labels).__name__],
        "window": [window.start, window.stop],
        "alpha": settings.alpha,
        "labels": [[key, value] for key, value in labels.items()],
    }


@lf.flow
def typed(n: int = 2) -> Any:
    first = flows.inc(n)
    return describe(
        Window(first, flows.inc(first)), Settings(alpha=first), Labels(z=first, a="fixed")
    )


EXPECTED = {
    "types": ["Window", "Settings", "Labels"],
    "window": [3, 4],
    "alpha": 3,
    "labels": [["z", 3], ["a", "fixed"]],
}


def test_containers_reach_the_task_as_their_own_type(engine: lf.Engine) -> None:
    run = engine.run(typed, n=2)
    assert run.result() == EXPECTED
    assert run.view.graph.nodes["describe"].upstream == ("inc", "inc-1")


def test_containers_reach_the_task_as_their_own_type_on_dask(dask_engine: lf.Engine) -> None:
    assert dask_engine.run(typed, n=2).result() == EXPECTED


def test_a_secret_inside_a_named_tuple_reaches_cache_keys_keyed() -> None:
    hasher = SecretHasher(b"k")
    secrets = RunSecrets({"password": "hunter2-secret"}, hasher)
    keyed = secrets.keyed({"login": Window("ada", "hunter2-secret")})
    assert keyed == {"login": Window("ada", hasher.digest("hunter2-secret"))}
    assert type(keyed["login"]) is Window


@dataclass(frozen=True)
class Positive:
    x: Any

    def __post_init__(self) -> None:
        if isinstance(self.x, int) and self.x < 0:
            raise ValueError(f"{self.x} is negative")


@lf.task(cache_key=lf.inputs_hash)
def checked(value: Positive) -> Any:
    return value.x


@lf.flow
def rebuilt_badly(n: int = -2) -> Any:
    return checked(Positive(flows.inc(n)))


def test_a_container_that_refuses_the_result_fails_the_task_not_the_driver(engine: lf.Engine) -> None:
    run = engine.run(rebuilt_badly)
    assert run.state == "FAILED" and run.tasks["checked"].state == "FAILED"
    assert "-1 is negative" in (run.tasks["checked"].error or {}).get("message", "")
    running = next(e for e in engine.events(run.id) if e.type == "task.running" and e.task_key == "checked")
    assert running.payload["cache"].startswith("not cached: arguments not resolved (ValueError(")
