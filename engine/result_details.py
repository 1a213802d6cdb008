"""What a task's recorded result says of its value, for ``ledgerflow show`` and the web UI:
where it is (inline in the log, the database, or an object store and key), its size,
format and sha256; and loading the value on request, each failure turned into a
``ValueProblem`` that says why (altered, missing, refused, not loadable here, or a store
this process cannot read) instead of whatever the store's library raised."""

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from ..results.codec import is_signed
from ..results.errors import ResultCorrupted
from ..results.integrity import MISSING
from ..results.refs import DATABASE, ResultRef
from ..storage.errors import ResultNotLoadable, ResultRefused
from .core.errors import LedgerflowError
from .core.fold import RunView
from .core.graph import result_refs
from .core.states import TaskState

INLINE = "inline"
"""The ``kind`` of a result that travels inside its event."""
STORED_IN_DATABASE = "database"
"""The ``kind`` of a result in the database's result table."""
IN_OBJECT_STORE = "store"
"""The ``kind`` of a result in an object store (``file://``, ``s3://``...)."""

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int) -> str:
    """``512 B``, ``1.5 KiB``, ``12.3 MiB``: bytes in binary units, one decimal above bytes."""
    value = float(size)
    for unit in _UNITS[:-1]:
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_UNITS[-1]}"


@dataclass(frozen=True, slots=True)
class ResultLocation:
    """Where a task's result is (``kind``: ``inline``, ``database`` or ``store``; ``store``:
    the store's public URL or ``database``; ``key`` inside it), how it is encoded, its size
    in bytes and its sha256 (None inline: the event's own hash covers it)."""

    kind: str
    store: str | None
    key: str | None
    format: str
    size: int
    sha256: str | None
    compression: str | None = None

    @property
    def url(self) -> str | None:
        """The object's URL (store URL and key) in an object store; None elsewhere."""
        if self.kind != IN_OBJECT_STORE or self.store is None or self.key is None:
            return None
        return f"{self.store.rstrip('/')}/{self.key}"

    @property
    def where(self) -> str:
        """``inline in the log``, ``database``, or the store's URL."""
        if self.kind == INLINE:
            return "inline in the log"
        return self.store or DATABASE

    @property
    def size_text(self) -> str:
        """The size in human units."""
        return human_size(self.size)

    @property
    def encoding(self) -> str:
        """``json``, ``pickle (HMAC-signed)``, ``pickle-buffers (HMAC-signed)``, with the
        compression if any."""
        shown = f"{self.format} (HMAC-signed)" if is_signed(self.format) else self.format
        return shown if self.compression is None else f"{shown}, {self.compression}"

    def to_json(self) -> dict[str, Any]:
        """Every field, the object's URL, the place and the size in human units."""
        return {**asdict(self), "url": self.url, "where": self.where, "size_text": self.size_text}


def location_of(payload: Mapping[str, Any] | None) -> ResultLocation | None:
    """The location of a task's result payload as its event recorded it (None: no result)."""
    if payload is None:
        return None
    if INLINE in payload:
        size = len(orjson.dumps(payload[INLINE]))
        return ResultLocation(INLINE, None, None, "json", size, None)
    if "ref" not in payload:
        return None
    ref = ResultRef.from_payload(payload)
    kind = STORED_IN_DATABASE if ref.is_in_database else IN_OBJECT_STORE
    return ResultLocation(kind, ref.store, ref.key, ref.format, ref.size, ref.sha256, ref.compression)


def value_tasks(view: RunView, key: str) -> Iterator[str]:
    """The tasks whose results make up task ``key``'s value (a dynamic map's: its children's,
    recursively)."""
    if view.tasks[key].state is TaskState.MAPPED:
        for child in view.children(key):
            yield from value_tasks(view, child.key)
    else:
        yield key


def run_result_tasks(view: RunView) -> Iterator[str]:
    """The tasks whose results make up the run's result (the flow's return value)."""
    for key in result_refs(view.graph.result):
        yield from value_tasks(view, key)


def stored_size(view: RunView, keys: Iterable[str]) -> int:
    """The bytes loading the results of tasks ``keys`` reads from stores (inline: none)."""
    total = 0
    for key in keys:
        location = location_of(view.tasks[key].result)
        if location is not None and location.kind != INLINE:
            total += location.size
    return total


@dataclass(frozen=True, slots=True)
class ValueProblem:
    """Why a result's value cannot be shown: ``kind`` is ``corrupted`` (bytes differ from the
    recorded size or sha256), ``missing``, ``refused`` (a pickle's signature does not match),
    ``not_loadable`` (cannot be unpickled in this process), ``unreadable`` (the store cannot
    be read from here: credentials, network, permissions), ``not_persisted`` (only its size
    and sha256 were recorded) or ``no_result`` (the task or run has none: it did not succeed)."""

    kind: str
    message: str
    task_key: str | None = None
    ref: str | None = None
    store: str | None = None
    expected_sha256: str | None = None
    found_sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Every field."""
        return asdict(self)


class ValueUnavailable(LedgerflowError):
    """A result's value was asked for and cannot be shown; ``problem`` says why."""

    def __init__(self, problem: ValueProblem) -> None:
        self.problem = problem
        super().__init__(problem.message)


def problem_of(error: Exception, payload: Mapping[str, Any]) -> ValueProblem:
    """The problem of loading the result ``payload`` records, from what the load raised."""
    ref = ResultRef.from_payload(payload)
    located = {"task_key": ref.task_key, "ref": ref.key, "store": ref.store, "expected_sha256": ref.sha256}
    if isinstance(error, ResultCorrupted):
        kind = "missing" if error.found == MISSING else "corrupted"
        found = None if kind == "missing" else error.found
        return ValueProblem(kind, str(error), **located, found_sha256=found)
    if isinstance(error, ResultRefused):
        return ValueProblem("refused", str(error), **located)
    if isinstance(error, ResultNotLoadable):
        return ValueProblem("not_loadable", str(error), **located)
    detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    message = (
        f"run {ref.run_id}, task {ref.task_key}: cannot read stored result {ref.key!r} from "
        f"{ref.store} here ({detail}); give this process access to the store (credentials, "
        "network), or look where it can be read"
    )
    return ValueProblem("unreadable", message, **located)


def explaining(load: Callable[[Mapping[str, Any] | None], Any]) -> Callable[[Mapping[str, Any] | None], Any]:
    """``load``, raising ``ValueUnavailable`` with the problem instead of whatever it raised
    (a missing credential, a missing object, altered bytes, an unpicklable class...)."""

    def checked(payload: Mapping[str, Any] | None) -> Any:
        try:
            return load(payload)
        except Exception as exc:  # the store's library, unpickling: anything
            if payload is None or "ref" not in payload:
                raise
            raise ValueUnavailable(problem_of(exc, payload)) from exc

    return checked
