"""Secret flow parameters: kept out of everything a run stores, in clear text.

A parameter annotated ``lf.Secret[...]`` or named in ``@lf.flow(secrets=[...])``:

- is recorded in ``run.created`` as ``{"secret": "hmac-sha256:<hex>", "key_id": "<hex>"}``,
  an HMAC-SHA256 of the value's canonical JSON. The key is derived from the deployment's
  result signing key (``LEDGERFLOW_RESULT_KEY``, else the key file in ``LEDGERFLOW_HOME``),
  which never enters the database: whoever holds it recognises a value across runs, and a
  dump of the database alone does not let anyone test guesses;
- reaches the tasks of the driving process as itself; a task's ``cache_key`` sees the
  keyed hash in its place (so does ``lf.inputs_hash``);
- is replaced by ``***`` (its text, and each string inside it, of ``MIN_REDACTED_CHARS``
  characters or more) in captured task output and in the free-text fields of events
  (errors, tracebacks, reasons) before they are stored;
- must be given again to drive the run in another process (resume, restart, a worker):
  explicitly, from ``LEDGERFLOW_SECRET_<NAME>``, or as the parameter's default; a value
  whose keyed hash is not the recorded one is refused.
"""

import copy
import hashlib
import hmac
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson

from ..executors.structure import WALK, instances, rebuilt
from ..storage import TaskLogLine, TaskLogSink, load_result_key
from .core.graph import RESULT_REF, Graph
from .errors import FlowDefinitionError, InvalidParameter
from .task import CacheKeyFn, Task

if TYPE_CHECKING:
    from .flow import Flow, TracedFlow
    from .tracing import TaskCall

T = TypeVar("T")

ENV_PREFIX = "LEDGERFLOW_SECRET_"
DIGEST_PREFIX = "hmac-sha256:"
MIN_REDACTED_CHARS = 4  # shorter texts are not redacted: they would blank out ordinary words
MASK = "***"
FREE_TEXT_FIELDS = ("error", "reason", "cache")  # event payload fields that may quote a value
_KEY_CONTEXT = b"ledgerflow secret parameters v1"
_DIGEST = re.compile(rf"{DIGEST_PREFIX}[0-9a-f]{{64}}")


class _SecretMark:
    """The metadata that makes ``Annotated[T, ...]`` a secret parameter's annotation."""

    def __repr__(self) -> str:
        return "lf.Secret"


SECRET = _SecretMark()
Secret = Annotated[T, SECRET]
"""``lf.Secret[str]``: annotate a flow parameter whose value must not be stored in clear text."""


# -- declaring -------------------------------------------------------------------------


def declared_secrets(
    flow: str, fn: Callable[..., Any], signature: inspect.Signature, names: Iterable[str]
) -> frozenset[str]:
    """The secret parameters of a flow: ``names`` (checked) and those annotated ``Secret``."""
    names = [names] if isinstance(names, str) else list(names)
    unknown = [name for name in names if name not in signature.parameters]
    if unknown:
        known = ", ".join(signature.parameters) or "none"
        raise FlowDefinitionError(
            f"flow {flow!r}: secrets= names {unknown[0]!r}, which is not a parameter (known: {known})"
        )
    namespace = getattr(fn, "__globals__", {})
    annotated = {
        name
        for name, parameter in signature.parameters.items()
        if _is_secret(_resolved(flow, name, parameter.annotation, namespace))
    }
    return frozenset(names) | annotated


def _resolved(flow: str, name: str, annotation: Any, namespace: dict[str, Any]) -> Any:
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, namespace)  # a postponed annotation, in the user's own module
    except Exception:
        if "Secret" in annotation:  # unresolved, it would silently record the value in clear
            raise FlowDefinitionError(
                f"flow {flow!r}: cannot resolve the annotation {annotation!r} of parameter "
                f"{name!r}; name it in @flow(secrets=[...]) instead"
            ) from None
        return inspect.Parameter.empty


def _is_secret(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return any(item is SECRET for item in annotation.__metadata__)
    if origin in (typing.Union, types.UnionType):
        return any(_is_secret(arg) for arg in typing.get_args(annotation))
    return False


# -- hashing ---------------------------------------------------------------------------


class SecretHasher:
    """Keyed hashes of secret values under one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.key_id = hmac.new(key, b"key id", hashlib.sha256).hexdigest()[:12]

    @classmethod
    def for_home(cls, home: Path) -> "SecretHasher":
        """The hasher of this deployment: its key derived from the result signing key."""
        return cls(hmac.new(load_result_key(home), _KEY_CONTEXT, hashlib.sha256).digest())

    def digest(self, value: Any) -> str:
        """``hmac-sha256:<hex>`` of the value's canonical JSON (sorted keys)."""
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        return DIGEST_PREFIX + hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def marker(self, value: Any) -> dict[str, str]:
        """What ``run.created`` records in place of the value."""
        return {"secret": self.digest(value), "key_id": self.key_id}


def is_marker(value: Any) -> bool:
    """True for a recorded secret: ``{"secret": "hmac-sha256:<hex>", "key_id": ...}``."""
    return (
        isinstance(value, Mapping)
        and set(value) == {"secret", "key_id"}
        and isinstance(value["secret"], str)
        and _DIGEST.fullmatch(value["secret"]) is not None
    )


# -- one run's secrets -----------------------------------------------------------------


class RunSecrets:
    """The secret parameters of one run: their values, recorded markers and redaction."""

    def __init__(self, values: Mapping[str, Any], hasher: SecretHasher | None) -> None:
        self.values = dict(values)
        self.markers: dict[str, dict[str, str]] = {}
        self._texts: dict[str, str] = {}  # each text to redact -> its keyed hash
        self._wholes: list[tuple[Any, str]] = []  # values long enough to match whole
        for name, value in self.values.items():
            assert hasher is not None, "secret values need a hasher"
            self.markers[name] = hasher.marker(value)
            texts = {
                text: hasher.digest(leaf) for leaf in _string_leaves([value]) for text in _text_forms(leaf)
            }
            self._texts.update(texts)
            if texts:
                self._wholes.append((value, self.markers[name]["secret"]))
        ordered = sorted(self._texts, key=len, reverse=True)  # the longest match wins
        self.texts = tuple(ordered)  # what redaction replaces: masked in echoed task output too
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return bool(self.values)

    def recorded(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters as ``run.created`` records them: secrets as keyed hashes."""
        return {**parameters, **self.markers}

    def trace(self, flow: "Flow[..., Any]", parameters: Mapping[str, Any]) -> "TracedFlow":
        """Trace ``flow`` with the secrets' values; its tasks' cache keys see keyed hashes."""
        traced = flow.trace({**parameters, **self.values})
        if not self:
            return traced
        self._check_result(flow.name, traced.graph)
        return replace(traced, calls=self._keyed_calls(traced.calls), secrets=self)

    def redact(self, value: Any) -> Any:
        """``value`` (a text, or lists and dicts of texts) with each secret's text as ``***``."""
        return self._substituted(value, MASK)

    def keyed(self, value: Any) -> Any:
        """``value`` with each secret, whole or as text in a string, replaced by its keyed
        hash (in lists, tuples and dict values too): what a task's ``cache_key`` sees."""
        return self._substituted(value, self._digest_of)

    def _substituted(self, value: Any, repl: str | Callable[[re.Match[str]], str]) -> Any:
        def substituted(item: Any) -> Any:
            if repl is not MASK:
                for secret, digest in self._wholes:
                    if type(item) is type(secret) and item == secret:
                        return digest
            if isinstance(item, str):
                return item if self._pattern is None else self._pattern.sub(repl, item)
            return WALK

        return rebuilt(value, substituted, sees_scalars=True)

    def _digest_of(self, match: re.Match[str]) -> str:
        return self._texts[match.group(0)]

    def redact_payload(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """An event payload with its free-text fields redacted: what the log stores, and so
        what the driver folds (its live state is the fold of what was stored)."""
        fields = [name for name in FREE_TEXT_FIELDS if name in payload]
        if not fields or not self:
            return payload
        return {**payload, **{name: self.redact(payload[name]) for name in fields}}

    def guard_task_logs(self, sink: TaskLogSink) -> TaskLogSink:
        """The task log sink, redacting each line before it is stored."""
        return _RedactingTaskLogs(sink, self) if self else sink

    def _check_result(self, flow: str, graph: Graph) -> None:
        """The flow's result structure is recorded with the graph: it must not hold a secret."""
        for leaf in _json_leaves(graph.result):
            if self.keyed(leaf) != leaf:
                name = next(iter(self.values))
                raise InvalidParameter(
                    flow, name if len(self.values) == 1 else None,
                    "the flow returns a secret parameter's value, which the log would record "
                    "with the graph; return task results only",
                )

    def _keyed_calls(self, calls: Mapping[str, "TaskCall"]) -> dict[str, "TaskCall"]:
        """The calls, each task with a ``cache_key`` given keyed inputs (one copy per task)."""
        copies: dict[int, Task[..., Any]] = {}
        keyed: dict[str, TaskCall] = {}
        for key, call in calls.items():
            task, cache_key = call.task, call.task.cache_key
            if cache_key is None:
                keyed[key] = call
                continue
            if id(task) not in copies:
                copies[id(task)] = copy.copy(task)
                copies[id(task)].cache_key = partial(_keyed_cache_key, cache_key, self)
            keyed[key] = replace(call, task=copies[id(task)])
        return keyed


NO_SECRETS = RunSecrets({}, None)


def _keyed_cache_key(cache_key: CacheKeyFn, secrets: RunSecrets, inputs: Mapping[str, Any]) -> str | None:
    """A task's ``cache_key`` called with secrets replaced by their keyed hashes."""
    return cache_key({name: secrets.keyed(value) for name, value in inputs.items()})


def _string_leaves(values: Iterable[Any]) -> Iterator[str]:
    """The texts a secret value shows: strings and numbers in it (dict values, list items)."""
    for leaf in instances(list(values), (str, int, float)):
        if not isinstance(leaf, bool):
            yield leaf if isinstance(leaf, str) else str(leaf)


def _text_forms(text: str) -> set[str]:
    """The text as printed, inside a repr, and inside JSON (escapes differ)."""
    forms = {text, repr(text)[1:-1], orjson.dumps(text).decode()[1:-1]}
    return {form for form in forms if len(form) >= MIN_REDACTED_CHARS}


def _json_leaves(value: Any) -> Iterator[Any]:
    """Plain values in the flow's result structure (task references skipped)."""
    if isinstance(value, dict):
        if set(value) == {RESULT_REF}:
            return
        for item in value.values():
            yield from _json_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_leaves(item)
    else:
        yield value


# -- recording -------------------------------------------------------------------------


class _RedactingTaskLogs:
    """A ``TaskLogSink`` that redacts each line's message before it is stored."""

    def __init__(self, sink: TaskLogSink, secrets: RunSecrets) -> None:
        self._sink = sink
        self._secrets = secrets

    def put_logs(self, lines: Sequence[TaskLogLine]) -> None:
        redact = self._secrets.redact
        self._sink.put_logs([replace(line, message=redact(line.message)) for line in lines])


# -- new runs and recorded runs --------------------------------------------------------


def protect(flow: "Flow[..., Any]", bound: Mapping[str, Any], home: Path) -> RunSecrets:
    """The secrets of a new run of ``flow`` with ``bound`` parameters."""
    if not flow.secrets:
        return NO_SECRETS
    values = {name: bound[name] for name in flow.secrets if name in bound}
    return RunSecrets(values, SecretHasher.for_home(home))
