"""The one structure walker: containers rebuilt as their own type, leaves found in order."""

from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ledgerflow.executors import Upstream
from ledgerflow.executors.arguments import resolve_arguments
from ledgerflow.executors.structure import WALK, instances, rebuilt


class Point(NamedTuple):
    x: Any
    y: Any


@dataclass(frozen=True)
class Config:
    alpha: Any
    label: str = "c"
    derived: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "derived", ("from", self.alpha))


class Tagged(dict[str, Any]):
    """A dict subclass with an attribute of its own."""

    tag = "plain"


class Items(list[Any]):
    pass


def _as_ten(value: Any) -> Any:
    return 10 if isinstance(value, Upstream) else WALK


def test_each_container_keeps_its_type() -> None:
    tagged = Tagged(a=Upstream("a"))
    tagged.tag = "own"
    defaults: defaultdict[str, Any] = defaultdict(list, {"k": Upstream("a")})
    value = [
        Point(Upstream("a"), 2), Config(Upstream("a")), tagged, defaults,
        OrderedDict(z=Upstream("a"), a=1), Counter(x=3), Items([Upstream("a")]),
        (Upstream("a"),), {Upstream("a")}, frozenset({1}),
    ]  # fmt: skip
    out = rebuilt(value, _as_ten)
    assert out[0] == Point(10, 2) and type(out[0]) is Point
    assert out[1] == Config(10) and out[1].derived == ("from", 10)  # built again: __post_init__ ran
    assert type(out[2]) is Tagged and out[2] == {"a": 10} and out[2].tag == "own"
    assert type(out[3]) is defaultdict and out[3]["k"] == 10 and out[3]["missing"] == []
    assert type(out[4]) is OrderedDict and list(out[4].items()) == [("z", 10), ("a", 1)]
    assert type(out[5]) is Counter
    assert type(out[6]) is Items and out[6] == [10]
    assert out[7:] == [(10,), {10}, frozenset({1})]


def test_a_container_with_nothing_to_replace_is_kept_as_it_is() -> None:
    config, point, tagged = Config([1, {"k": (2,)}]), Point([1], 2), Tagged(a=[1])
    out = rebuilt([config, point, tagged], _as_ten)
    assert out[0] is config and out[1] is point and out[2] is tagged


def test_built_in_containers_are_copied_at_every_depth() -> None:
    inner = [1]
    value = {"k": [inner, (inner,)]}
    out = rebuilt(value, _as_ten)
    assert out == value and out is not value and out["k"][0] is not inner and out["k"][1][0] is not inner


def test_scalars_inside_containers_are_visited_only_when_asked() -> None:
    def shout(value: Any) -> Any:
        return value.upper() if isinstance(value, str) else WALK

    value = [Point("a", ["b"]), {"c": "d"}]
    assert rebuilt(value, shout) == value
    assert rebuilt(value, shout, sees_scalars=True) == [Point("A", ["B"]), {"c": "D"}]


def test_instances_are_found_in_order_inside_every_container() -> None:
    value = (Upstream("a"), {"k": [Point(Upstream("b"), Config(Upstream("c")))]}, Tagged(t=Upstream("d")))
    assert [marker.task_key for marker in instances(value, Upstream)] == ["a", "b", "c", "d"]


def test_resolved_arguments_keep_named_tuples_and_dataclasses() -> None:
    args, kwargs = resolve_arguments(
        (Point(Upstream("a"), Upstream("b", 1)),),
        {"config": Config(alpha=Upstream("a"))},
        {"a": 1, "b": [5, 6]},
    )
    assert args == (Point(1, 6),) and type(args[0]) is Point
    assert kwargs == {"config": Config(alpha=1)}
