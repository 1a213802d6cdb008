"""What becomes of a result where it was produced: inline JSON, bytes for the driver to put in
the database, an object written to the sink's store (compressed first when the sink says so),
or, not persisted, only described.

The object's key is attempt-scoped and content-named; its reference records the format, the
compression and the size and sha256 of the bytes stored (compressed ones, if compressed), so
checking it never needs to decompress.
"""

from collections.abc import Sequence

from .codec import JSON, EncodedResult, Encoding, join
from .compression import compressed
from .integrity import sha256_of_chunks
from .refs import NOT_PERSISTED, ResultRef, object_key
from .sinks import ResultSink


def is_inline(sink: ResultSink, encoding: Encoding) -> bool:
    """Whether the result travels inside its event (JSON up to the sink's inline limit)."""
    return encoding.format == JSON and encoding.size <= sink.inline_limit


def stored_chunks(sink: ResultSink, encoding: Encoding) -> tuple[Sequence[memoryview], str | None]:
    """The chunks to store and their compression: compressed with the sink's compression when
    the result reaches its threshold and compresses, else the encoding's own."""
    if sink.compression is None or encoding.size < sink.compression_threshold:
        return encoding.chunks, None
    chunks = compressed(sink.compression, encoding.chunks)
    return (encoding.chunks, None) if chunks is None else (chunks, sink.compression)


def for_the_driver(sink: ResultSink, encoding: Encoding) -> EncodedResult:
    """The result in one piece, for the driver to record (inline) or put in the database."""
    if is_inline(sink, encoding):
        return EncodedResult(encoding.format, encoding.joined())
    chunks, compression = stored_chunks(sink, encoding)
    return EncodedResult(encoding.format, join(chunks), compression)


def write_result(sink: ResultSink, run_id: str, task_key: str, attempt: int, encoding: Encoding) -> ResultRef:
    """Write the result to the sink's store under an attempt-scoped, content-named key."""
    chunks, compression = stored_chunks(sink, encoding)
    store = sink.store()
    written = store.write(chunks, lambda sha256: object_key(run_id, task_key, attempt, sha256))
    return ResultRef(store.url, written.key, encoding.format, written.size, written.sha256, compression)


def described(run_id: str, task_key: str, attempt: int, encoding: Encoding) -> ResultRef:
    """The reference of a result that is not persisted: it describes the value (format, size,
    sha256) and points at no object; the value stays in memory."""
    sha256 = sha256_of_chunks(encoding.chunks)
    key = object_key(run_id, task_key, attempt, sha256)
    return ResultRef(NOT_PERSISTED, key, encoding.format, encoding.size, sha256)
