"""The layout of a ``pickle-buffers`` result: a protocol-5 pickle followed by its out-of-band
buffers (the memory of numpy arrays, pandas columns...), each written as it is, never joined.

    b"LFPB" | u32 version | u64 buffer count n | u64 pickle length | n x u64 buffer lengths
    | the pickle | each buffer, starting at a multiple of 64 bytes (zero bytes before it)

Loading hands ``pickle.loads`` views into the bytes read, so arrays share them (aligned).
"""

import struct
from collections.abc import Sequence

MAGIC = b"LFPB"
VERSION = 1
ALIGNMENT = 64
_HEAD = struct.Struct("<4sIQQ")
_LENGTH = struct.Struct("<Q")
_PADDING = memoryview(bytes(ALIGNMENT))


class MalformedBuffers(ValueError):
    """Bytes that do not have the layout of a ``pickle-buffers`` result."""


def pack(pickled: Sequence[memoryview], buffers: Sequence[memoryview]) -> list[memoryview]:
    """The chunks of a ``pickle-buffers`` result, in order: a small header, the pickle's chunks,
    then each buffer (views of the caller's memory: nothing is copied)."""
    lengths = [buffer.nbytes for buffer in buffers]
    pickled_length = sum(chunk.nbytes for chunk in pickled)
    header = _HEAD.pack(MAGIC, VERSION, len(buffers), pickled_length) + b"".join(
        _LENGTH.pack(length) for length in lengths
    )
    chunks = [memoryview(header), *pickled]
    offset = len(header) + pickled_length
    for buffer in buffers:
        padding = -offset % ALIGNMENT
        if padding:
            chunks.append(_PADDING[:padding])
        chunks.append(buffer)
        offset += padding + buffer.nbytes
    return chunks


def unpack(data: memoryview) -> tuple[memoryview, list[memoryview]]:
    """The pickle and the buffers of a ``pickle-buffers`` result, as views of ``data``; raises
    ``MalformedBuffers`` for bytes of another layout."""
    if data.nbytes < _HEAD.size:
        raise MalformedBuffers(f"{data.nbytes} bytes: shorter than the header")
    magic, version, count, pickled_length = _HEAD.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise MalformedBuffers(f"header {bytes(data[:8])!r}: not version {VERSION} of this layout")
    offset = _HEAD.size + count * _LENGTH.size
    if offset > data.nbytes:
        raise MalformedBuffers(f"{count} buffers announced: more than the bytes hold")
    lengths = [_LENGTH.unpack_from(data, _HEAD.size + i * _LENGTH.size)[0] for i in range(count)]
    pickled = data[offset : offset + pickled_length]
    offset += pickled_length
    buffers = []
    for length in lengths:
        offset += -offset % ALIGNMENT
        buffers.append(data[offset : offset + length])
        offset += length
    if offset != data.nbytes:
        raise MalformedBuffers(f"the layout ends at byte {offset} of {data.nbytes}")
    return pickled, buffers
