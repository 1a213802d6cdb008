"""A digest of a value that is the same in every process: what ``lf.inputs_hash`` keys on.

Pickle is no such thing (a set pickles in an order that depends on ``PYTHONHASHSEED``), so
values are encoded here, type by type, with a tag and a length before each part:
numbers, text and bytes as themselves; lists, tuples and named tuples in order; dicts
(and dict subclasses) by key and sets by element, in the order of their parts' digests;
dataclasses field by field; enums, dates, times, decimals, UUIDs, paths and ranges by
their exact text; numpy arrays by dtype, shape and data; pandas objects by their parts.
Anything else has no deterministic encoding: the digest is refused, with the reason.
Types other than the built-in ones are part of the encoding (by module and qualified
name), so equal values of different types get different digests.
"""

import dataclasses
import datetime as dt
import decimal
import enum
import hashlib
import sys
import uuid
from collections.abc import Callable, Iterable
from pathlib import PurePath
from typing import Any

Hash = Any  # a hashlib object
VERSION = b"ledgerflow canonical v1\0"


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    """Why a value has no canonical encoding, and where in it (``.a[2]``...)."""

    path: str
    message: str

    def under(self, step: str) -> "Refusal":
        """The refusal as seen from the container holding the value at ``step``."""
        return Refusal(step + self.path, self.message)


def canonical_digest(value: Any) -> str | Refusal:
    """The hex SHA-256 of ``value``'s canonical encoding, or why there is none."""
    digest = hashlib.sha256(VERSION)
    refusal = _Encoder().encode(value, digest)
    return refusal if refusal is not None else digest.hexdigest()


Step = int | str  # where an item is inside its container: a list index or ".field"


class _Encoder:
    """Encodes one value; remembers the containers on the current path to refuse cycles."""

    def __init__(self) -> None:
        self._open: set[int] = set()

    def encode(self, value: Any, out: Hash) -> Refusal | None:
        scalar = _SCALARS.get(type(value))
        if scalar is not None:
            _put(out, *scalar(value))
            return None
        if id(value) in self._open:
            return Refusal("", f"a {type(value).__qualname__} that contains itself")
        self._open.add(id(value))
        try:
            return self._composite(value, out)
        finally:
            self._open.discard(id(value))

    def _composite(self, value: Any, out: Hash) -> Refusal | None:
        if isinstance(value, dict):
            _put(out, b"d", _subtype(value, dict))
            return self._unordered(out, ((f"[{k!r}]", (k, v)) for k, v in value.items()), len(value))
        if type(value) in (set, frozenset):
            _put(out, b"S" if type(value) is set else b"F")
            return self._unordered(out, ((f"{{{item!r}}}", (item,)) for item in value), len(value))
        if isinstance(value, list | tuple):
            _put(out, b"t" if isinstance(value, tuple) else b"l", _subtype(value, list, tuple))
            return self._ordered(out, enumerate(value), len(value))
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            parts: list[tuple[Step, Any]] = [
                (f".{field.name}", getattr(value, field.name)) for field in dataclasses.fields(value)
            ]
        else:
            found = _other_parts(value)
            if found is None:
                return Refusal("", f"a {_type_name(value)}, which has no deterministic encoding")
            parts = found
        _put(out, b"o", _type_name(value).encode())
        return self._ordered(out, parts, len(parts))

    def _ordered(self, out: Hash, items: Iterable[tuple[Step, Any]], count: int) -> Refusal | None:
        _put(out, b"#", str(count).encode())
        for step, item in items:
            if isinstance(step, str):
                _put(out, b"=", step.encode())
            refusal = self.encode(item, out)
            if refusal is not None:
                return refusal.under(f"[{step}]" if isinstance(step, int) else step)
        return None

    def _unordered(
        self, out: Hash, entries: Iterable[tuple[str, tuple[Any, ...]]], count: int
    ) -> Refusal | None:
        """Entries (a dict's key and value, a set's element) in the order of their digests."""
        digests = []
        for step, parts in entries:
            entry = hashlib.sha256()
            for part in parts:
                refusal = self.encode(part, entry)
                if refusal is not None:
                    return refusal.under(step)
            digests.append(entry.digest())
        _put(out, b"#", str(count).encode())
        for digest in sorted(digests):
            out.update(digest)
        return None


def _put(out: Hash, tag: bytes, data: bytes = b"") -> None:
    out.update(tag + len(data).to_bytes(8, "big") + data)


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _subtype(value: Any, *builtins: type) -> bytes:
    """The type's name, unless it is one of ``builtins`` itself."""
    return b"" if type(value) in builtins else _type_name(value).encode()


_SCALARS: dict[type, Callable[[Any], tuple[bytes, bytes]]] = {
    type(None): lambda value: (b"N", b""),
    bool: lambda value: (b"B", b"1" if value else b"0"),
    int: lambda value: (b"i", str(value).encode()),
    float: lambda value: (b"f", value.hex().encode()),
    complex: lambda value: (b"c", f"{value.real.hex()},{value.imag.hex()}".encode()),
    str: lambda value: (b"s", value.encode("utf-8", "surrogatepass")),
    bytes: lambda value: (b"b", value),
    bytearray: lambda value: (b"a", bytes(value)),
}


def _other_parts(value: Any) -> list[tuple[Step, Any]] | None:
    """Named parts of a value of another type that has a deterministic encoding."""
    if isinstance(value, enum.Enum):
        return [(".name", value.name)]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return [(".isoformat()", value.isoformat())]
    if isinstance(value, dt.timedelta | decimal.Decimal | uuid.UUID | PurePath):
        return [("repr()", repr(value))]
    if isinstance(value, range):
        return [(".start", value.start), (".stop", value.stop), (".step", value.step)]
    for base in _SCALAR_BASES:  # a subclass of a built-in scalar
        if isinstance(value, base):
            return [("", base(value))]
    return _numpy_parts(value) or _pandas_parts(value)


_SCALAR_BASES: tuple[type[Any], ...] = (int, float, complex, str, bytes, bytearray)


def _numpy_parts(value: Any) -> list[tuple[Step, Any]] | None:
    numpy = sys.modules.get("numpy")  # not imported: the value cannot be a numpy array
    if numpy is None:
        return None
    if isinstance(value, numpy.generic):
        value = numpy.asarray(value)
    if not isinstance(value, numpy.ndarray):
        return None
    parts: list[tuple[Step, Any]] = [(".dtype", f"{value.dtype}|{value.dtype.str}"), (".shape", value.shape)]
    if value.dtype.hasobject:
        return [*parts, (".ravel()", value.ravel().tolist())]
    data = hashlib.sha256(numpy.ascontiguousarray(value).data).digest()
    return [*parts, (".data", data)]


def _pandas_parts(value: Any) -> list[tuple[Step, Any]] | None:
    pandas = sys.modules.get("pandas")  # not imported: the value cannot be a pandas object
    if pandas is None:
        return None
    if value is pandas.NA or value is pandas.NaT:
        return [("", repr(value))]
    if isinstance(value, pandas.Index):
        return [(".dtype", str(value.dtype)), (".names", list(value.names)), (".values", value.to_numpy())]
    if isinstance(value, pandas.Series):
        return [
            (".name", value.name), (".dtype", str(value.dtype)), (".index", value.index),
            (".values", value.to_numpy()),
        ]  # fmt: skip
    if isinstance(value, pandas.DataFrame):
        columns = range(value.shape[1])
        return [
            (".columns", value.columns), (".index", value.index),
            (".dtypes", [str(dtype) for dtype in value.dtypes]),
            (".values", [value.iloc[:, position].to_numpy() for position in columns]),
        ]  # fmt: skip
    return None
