"""Encoding of task results: exact JSON when possible, else a pickle (protocol 5, signed by the
store), whose large buffers (numpy arrays, pandas columns...) follow it out of band.

An ``Encoding`` is a sequence of chunks that are views of the value's own memory where they
can be (a large ``bytes``, an array's data): a store writes them one after the other and no
joined copy is ever made. ``pickle`` results are byte for byte what ``pickle.dumps`` gives.
"""

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .buffers import MalformedBuffers, pack, unpack
from .compression import CompressionUnavailable, decompress
from .errors import ResultNotLoadable, ResultNotSerializable, StorageError

JSON = "json"
PICKLE = "pickle"
PICKLE_BUFFERS = "pickle-buffers"
FORMATS = (JSON, PICKLE, PICKLE_BUFFERS)

OUT_OF_BAND_MIN = 1 << 16
"""Bytes from which a buffer the pickle offers (an array's data) is kept out of the pickle."""


def is_signed(format: str) -> bool:
    """Whether results of ``format`` are pickles, which load only with a valid signature."""
    return format in (PICKLE, PICKLE_BUFFERS)


@dataclass(frozen=True, slots=True)
class EncodedResult:
    """A task's return value, encoded in one piece (as it travels to the driver), and the
    compression its ``data`` has (None: none)."""

    format: str  # "json", "pickle" or "pickle-buffers" (pickles unsigned; the store signs them)
    data: bytes
    compression: str | None = None


@dataclass(frozen=True, slots=True)
class Encoding:
    """A task's return value, encoded as ``chunks`` to write in order (views, not copies)."""

    format: str
    chunks: tuple[memoryview, ...]

    @property
    def size(self) -> int:
        """The encoded size in bytes."""
        return sum(chunk.nbytes for chunk in self.chunks)

    def joined(self) -> bytes:
        """The encoding in one piece (a copy)."""
        return join(self.chunks)


def join(chunks: Sequence[memoryview]) -> bytes:
    """``chunks`` in one piece (a copy)."""
    return chunks[0].tobytes() if len(chunks) == 1 else b"".join(chunks)


class _Chunks:
    """A file for ``pickle.Pickler``: keeps what it is given (the pickler passes large
    ``bytes`` and buffers as they are) instead of copying it."""

    def __init__(self) -> None:
        self.chunks: list[memoryview] = []

    def write(self, data: Any) -> int:
        view = data.raw() if isinstance(data, pickle.PickleBuffer) else memoryview(data).cast("B")
        self.chunks.append(view)
        return view.nbytes


def _is_same(decoded: Any, value: Any) -> bool:
    """True if ``decoded`` equals ``value`` with the same type at every level."""
    if type(decoded) is not type(value):
        return False
    if isinstance(value, list):
        return len(decoded) == len(value) and all(map(_is_same, decoded, value))
    if isinstance(value, dict):
        return decoded.keys() == value.keys() and all(
            _is_same(decoded[key], item) for key, item in value.items()
        )
    return bool(decoded == value)


def _as_json(value: Any) -> bytes | None:
    """orjson bytes of ``value`` if they load back to an identical value, else None."""
    try:
        data = orjson.dumps(value)
    except TypeError:
        return None
    if not _is_same(orjson.loads(data), value):
        return None
    # orjson's bytes keep the 4 KiB buffer they were written into: a copy of the exact
    # size keeps a map of many small results small while their outcomes are held.
    return bytes(memoryview(data)) if len(data) < 2048 else data


def _pickled(value: Any) -> Encoding:
    """A protocol-5 pickle of ``value``; buffers of ``OUT_OF_BAND_MIN`` bytes or more follow it."""
    out_of_band: list[memoryview] = []

    def keeps_in_band(buffer: pickle.PickleBuffer) -> bool:
        raw = buffer.raw()
        if raw.nbytes < OUT_OF_BAND_MIN:
            return True
        out_of_band.append(raw)
        return False

    pickled = _Chunks()
    try:
        pickle.Pickler(pickled, protocol=5, buffer_callback=keeps_in_band).dump(value)
    except Exception as exc:  # pickling fails with many types (PicklingError, TypeError, ...)
        raise ResultNotSerializable(type(value).__qualname__, f"{type(exc).__name__}: {exc}") from exc
    if not out_of_band:
        return Encoding(PICKLE, tuple(pickled.chunks))
    return Encoding(PICKLE_BUFFERS, tuple(pack(pickled.chunks, out_of_band)))


def encode(value: Any) -> Encoding:
    """Encode a task result: exact JSON when possible, else a pickle (signed by the store)."""
    data = _as_json(value)
    if data is not None:
        return Encoding(JSON, (memoryview(data),))
    return _pickled(value)


def encode_result(value: Any) -> EncodedResult:
    """Encode a task result in one piece (see ``encode``)."""
    encoding = encode(value)
    return EncodedResult(encoding.format, encoding.joined())


def decode_result(format: str, data: bytes | bytearray | memoryview, compression: str | None = None) -> Any:
    """Decode a result encoded by ``encode`` and stored with ``compression`` (verify a pickle's
    signature over the stored bytes first). Arrays of a ``pickle-buffers`` result share the
    memory of ``data`` when it is writable, else of a copy."""
    if compression is not None:
        data = decompress(compression, data)
    if format == JSON:
        return orjson.loads(data)
    if format == PICKLE:
        return pickle.loads(data)  # callers verify the HMAC signature first
    if format == PICKLE_BUFFERS:
        view = memoryview(data)
        try:
            pickled, buffers = unpack(view if not view.readonly else memoryview(bytearray(view)))
        except MalformedBuffers as exc:
            raise StorageError(f"a {PICKLE_BUFFERS} result is malformed: {exc}") from None
        return pickle.loads(pickled, buffers=buffers)
    raise StorageError(f"unknown result format {format!r} (expected one of {', '.join(FORMATS)})")


def decode_stored(
    key: str, format: str, data: bytes | bytearray | memoryview, compression: str | None
) -> Any:
    """Decode the checked bytes of stored result ``key`` (a pickle's signature verified first);
    raises ``ResultNotLoadable`` if this process cannot (a class it cannot import, the package
    of its compression missing), ``StorageError`` for bytes of an unknown format."""
    try:
        return decode_result(format, data, compression)
    except CompressionUnavailable as exc:
        raise ResultNotLoadable(key, exc.problem, exc.remedy) from None
    except StorageError:
        raise
    except Exception as exc:  # a class gone or changed, a corrupt payload: unpickling raises anything
        raise ResultNotLoadable(key, f"{type(exc).__name__}: {exc}") from exc
