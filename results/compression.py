"""Optional compression of stored results with zstd (``pip install ledgerflow[zstd]``).

A result is compressed where it is encoded, when its sink asks for it and it is at least the
threshold; a sample decides first whether it compresses at all, so data that does not (random
floats, already compressed bytes) is stored as it is, for the cost of compressing the sample.
The reference records the compression; its size and sha256 are those of the stored bytes.
"""

from collections.abc import Sequence
from typing import Any

from .errors import StorageError

ZSTD = "zstd"
COMPRESSIONS = (ZSTD,)
LEVEL = 1  # zstd's fastest standard level: on numeric data it compresses about as well as 3
EXTRA = "pip install ledgerflow[zstd]"

_SAMPLE = 128 << 10  # bytes in each of the three samples taken
_MAX_SAMPLE_RATIO = 0.8  # compress only when the samples shrink to 80 % or less


class CompressionUnavailable(StorageError):
    """A result compression that is unknown, or whose package is not installed here."""

    def __init__(self, compression: str, problem: str, remedy: str) -> None:
        self.compression = compression
        self.problem = problem
        self.remedy = remedy
        super().__init__(f"result compression {compression!r}: {problem}; {remedy}")


def _zstandard(compression: str) -> Any:
    """The ``zstandard`` module; raises ``CompressionUnavailable`` naming the extra."""
    if compression not in COMPRESSIONS:
        expected = ", ".join(COMPRESSIONS)
        raise CompressionUnavailable(
            compression, f"unknown compression (this version knows {expected})", "use a version that knows it"
        )
    try:
        import zstandard
    except ImportError:
        problem = f"{compression} needs the zstandard package, which is not installed here"
        raise CompressionUnavailable(compression, problem, f"install it: {EXTRA}") from None
    return zstandard


def check_compression(compression: str | None) -> str | None:
    """``compression`` (None, or ``"zstd"``) once it can be used here; raises
    ``CompressionUnavailable``."""
    if compression is not None:
        _zstandard(compression)
    return compression


def _samples(chunks: Sequence[memoryview]) -> list[memoryview]:
    """Three slices of the largest chunk (start, middle, end), or the chunk if it is small."""
    largest = max(chunks, key=lambda chunk: chunk.nbytes)
    if largest.nbytes <= 3 * _SAMPLE:
        return [largest]
    middle = (largest.nbytes - _SAMPLE) // 2
    return [largest[:_SAMPLE], largest[middle : middle + _SAMPLE], largest[-_SAMPLE:]]


def compressed(compression: str, chunks: Sequence[memoryview]) -> list[memoryview] | None:
    """``chunks`` compressed as one frame that records its content size, or None if a sample
    shows that the data does not compress."""
    zstandard = _zstandard(compression)
    compressor = zstandard.ZstdCompressor(level=LEVEL)
    samples = _samples(chunks)
    sampled = sum(len(compressor.compress(sample)) for sample in samples)
    if sampled > _MAX_SAMPLE_RATIO * sum(sample.nbytes for sample in samples):
        return None
    stream = compressor.compressobj(size=sum(chunk.nbytes for chunk in chunks))
    frames = [stream.compress(chunk) for chunk in chunks]
    frames.append(stream.flush())
    return [memoryview(frame) for frame in frames if frame]


def decompress(compression: str, data: bytes | bytearray | memoryview) -> bytearray:
    """The bytes ``data`` holds compressed, in a new writable buffer; raises
    ``CompressionUnavailable`` if the compression cannot be read here, ``StorageError`` if the
    bytes are not a whole frame."""
    zstandard = _zstandard(compression)
    size = zstandard.frame_content_size(data)
    if size < 0:
        raise StorageError("a zstd result records no content size")
    out = bytearray(size)
    with zstandard.ZstdDecompressor().stream_reader(data) as reader:
        view, filled = memoryview(out), 0
        while filled < size and (count := reader.readinto(view[filled:])):
            filled += count
        if filled != size or reader.read(1):
            raise StorageError(f"a zstd result holds other than the {size} bytes its frame records")
    return out
