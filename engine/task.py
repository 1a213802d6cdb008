"""``@lf.task``: a Python function with retries, timeout, tags, resources and caching."""

import hashlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Generic, ParamSpec, TypeVar, overload

from .core.graph import Trigger
from .errors import FlowDefinitionError
from .hooks import Hook, hook_set
from .names import check_task_names
from .persistence import check_persistence
from .result_storage import checked_setting
from .retry import RetryPolicy
from .tracing import (
    MappedResult,
    MapSpec,
    TaskCall,
    TaskResult,
    Unmapped,
    current_tracer,
    to_arguments,
)

P = ParamSpec("P")
R = TypeVar("R")

CacheKeyFn = Callable[[Mapping[str, Any]], str | None]


class Task(Generic[P, R]):
    """A task: call it inside a flow to add it to the graph, or outside to run it plainly.

    ``persist_result=False`` keeps its result only in executor memory (its size and sha256
    are recorded; None: the flow's setting), see ``engine.persistence``.

    ``on_failure`` / ``on_success`` / ``on_retry`` hooks run when an attempt fails for good,
    succeeds, or is retried (see ``engine.hooks``).
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        retries: int = 0,
        retry_delay: float = 0.0,
        retry_backoff: float = 1.0,
        retry_jitter: float = 0.0,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        timeout: float | None = None,
        tags: Sequence[str] = (),
        resources: Mapping[str, float] | None = None,
        cache_key: CacheKeyFn | None = None,
        cache_expiration: timedelta | None = None,
        trigger: str | Trigger = Trigger.ALL_SUCCESSFUL,
        on_failure: Hook | Sequence[Hook] | None = None,
        on_success: Hook | Sequence[Hook] | None = None,
        on_retry: Hook | Sequence[Hook] | None = None,
        result_storage: str | None = None,
        persist_result: bool | None = None,
    ) -> None:
        if not callable(fn):
            raise FlowDefinitionError(f"@task decorates a function, got {type(fn).__name__}")
        check_persistence(name or fn.__name__, persist_result, cache_key)
        if timeout is not None and timeout <= 0:
            raise ValueError(f"task {name or fn.__name__!r}: timeout must be > 0 seconds")
        self.fn = fn
        self.name = name or fn.__name__
        self.retry = RetryPolicy(retries, retry_delay, retry_backoff, retry_jitter)
        self.retry_on = retry_on if isinstance(retry_on, tuple) else (retry_on,)
        self.timeout = timeout
        self.tags = tuple(tags)
        check_task_names(self.name, self.tags)
        self.resources = dict(resources or {})
        self.cache_key = cache_key
        self.cache_expiration = cache_expiration
        self.trigger = Trigger.parse(trigger)
        self.result_storage = checked_setting(result_storage)
        self.persist_result = persist_result
        self.hooks = hook_set(
            "task", self.name, on_failure=on_failure, on_success=on_success, on_retry=on_retry
        )
        self.signature = inspect.signature(fn)
        self.code_hash = _code_hash(fn)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        tracer = current_tracer.get()
        if tracer is None:
            return self.fn(*args, **kwargs)
        self._check_arguments(args, kwargs)
        key = tracer.next_key(self.name)
        call = TaskCall(self, to_arguments(args), to_arguments(kwargs))
        tracer.add(key, call, self.trigger)
        return TaskResult(key)  # type: ignore[return-value]

    def map(self, *args: Any, **kwargs: Any) -> Any:
        """Call the task once per element of the mapped arguments (``lf.unmapped`` excluded).

        A mapped argument is a task result, expanded at run time once its length is known,
        or any finite iterable (list, tuple, range, generator, numpy array, pandas Series...),
        read once while tracing and recorded as a list: its children are ``name[0]``,
        ``name[1]``... Strings, bytes, mappings and sets are refused (map over
        ``d.items()``, ``sorted(s)``..., or pass them whole with ``lf.unmapped``).
        """
        tracer = current_tracer.get()
        if tracer is None:
            raise FlowDefinitionError(f"{self.name}.map(...) can only be used inside a flow")
        self._check_arguments(args, kwargs)
        key = tracer.next_key(self.name)
        args = tuple(_materialised(self.name, i, a) for i, a in enumerate(args))
        kwargs = {k: _materialised(self.name, k, v) for k, v in kwargs.items()}
        mapped: dict[int | str, Any] = dict(enumerate(args))
        mapped.update(kwargs)
        mapped = {k: v for k, v in mapped.items() if not isinstance(v, Unmapped)}
        if not mapped:
            raise FlowDefinitionError(f"{self.name}.map(...) needs at least one mapped argument")
        if any(isinstance(v, TaskResult) for v in mapped.values()):
            return self._map_dynamic(key, args, kwargs, mapped)
        return self._map_static(key, args, kwargs, mapped)

    def _map_static(
        self, key: str, args: tuple[Any, ...], kwargs: dict[str, Any], mapped: dict[Any, Any]
    ) -> MappedResult:
        lengths = {name: len(value) for name, value in mapped.items()}
        if len(set(lengths.values())) > 1:
            raise FlowDefinitionError(
                f"{self.name}.map(...) over arguments of different lengths: {lengths}"
            )
        tracer = current_tracer.get()
        assert tracer is not None
        results = MappedResult()
        for index in range(next(iter(lengths.values()))):
            child_args = tuple(_element(a, index, i in mapped) for i, a in enumerate(args))
            child_kwargs = {k: _element(v, index, k in mapped) for k, v in kwargs.items()}
            call = TaskCall(self, to_arguments(child_args), to_arguments(child_kwargs))
            tracer.add(f"{key}[{index}]", call, self.trigger)
            results.append(TaskResult(f"{key}[{index}]"))
        return results

    def _map_dynamic(
        self, key: str, args: tuple[Any, ...], kwargs: dict[str, Any], mapped: dict[Any, Any]
    ) -> TaskResult:
        spec = MapSpec(
            args=tuple(i for i in range(len(args)) if i in mapped),
            kwargs=tuple(k for k in kwargs if k in mapped),
        )
        plain_args = tuple(a.value if isinstance(a, Unmapped) else a for a in args)
        plain_kwargs = {k: v.value if isinstance(v, Unmapped) else v for k, v in kwargs.items()}
        call = TaskCall(self, to_arguments(plain_args), to_arguments(plain_kwargs), spec)
        tracer = current_tracer.get()
        assert tracer is not None
        over = tuple(v.key for v in mapped.values() if isinstance(v, TaskResult))
        tracer.add(key, call, self.trigger, map_over=over)
        return TaskResult(key, is_dynamic_map=True)

    def _check_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise FlowDefinitionError(f"task {self.name!r} called with bad arguments: {exc}") from None


def _materialised(task: str, name: int | str, value: Any) -> Any:
    """A mapped argument as the list of its elements (task results and unmapped values
    stay as they are)."""
    if isinstance(value, TaskResult | Unmapped):
        return value
    refused = _refused(value)
    if refused is None:
        try:
            elements = iter(value)
        except TypeError:
            refused = "not iterable; map over a list (any finite iterable) or a task result"
        else:
            return list(elements)
    raise FlowDefinitionError(
        f"{task}.map(...): argument {name!r} is a {type(value).__name__}: {refused}, "
        "or pass it whole to every child with lf.unmapped(...)"
    )


def _refused(value: Any) -> str | None:
    """Why an iterable ``value`` is not mapped over (None: it is)."""
    if isinstance(value, str | bytes | bytearray | memoryview):
        return ".map does not map over the characters of a text (almost certainly a mistake); pass a list"
    if isinstance(value, Mapping):
        return "a mapping is not mapped over implicitly; map over its .keys(), .values() or .items()"
    if isinstance(value, set | frozenset):
        return "a set's order differs between processes; map over sorted(...)"
    return None


def _element(value: Any, index: int, is_mapped: bool) -> Any:
    if isinstance(value, Unmapped):
        return value.value
    return value[index] if is_mapped else value


def _code_hash(fn: Callable[..., Any]) -> str:
    try:
        source = inspect.getsource(fn).encode()
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        source = code.co_code if code is not None else repr(fn).encode()
    return hashlib.sha256(source).hexdigest()


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    fn: None = None, /, **options: Any
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(fn: Callable[P, R] | None = None, /, **options: Any) -> Any:
    """Make a function a task; usable as ``@task`` or ``@task(retries=3, ...)``."""
    if fn is not None:
        return Task(fn, **options)
    return lambda inner: Task(inner, **options)
