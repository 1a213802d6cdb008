"""Results: their encoding, references, integrity checks and object stores.

A neutral package below the executors, the engine and storage: it imports only the standard
library, third-party libraries and the root error (``ledgerflow.engine.core.errors``).
``ObjectStore`` is imported on first use (fsspec takes a while to import).
"""

from typing import TYPE_CHECKING, Any

from .codec import (
    FORMATS,
    JSON,
    PICKLE,
    PICKLE_BUFFERS,
    EncodedResult,
    Encoding,
    decode_result,
    decode_stored,
    encode,
    encode_result,
    is_signed,
)
from .compression import ZSTD, CompressionUnavailable
from .errors import ObjectConflict, ObjectNotFound, ResultCorrupted, ResultNotLoadable
from .integrity import check_bytes, missing, sha256_of
from .listing import StoredObject
from .refs import DATABASE, ResultRef, database_key, object_key, public_url

if TYPE_CHECKING:
    from .objects import ObjectStore

__all__ = [
    "DATABASE",
    "FORMATS",
    "JSON",
    "PICKLE",
    "PICKLE_BUFFERS",
    "ZSTD",
    "CompressionUnavailable",
    "EncodedResult",
    "Encoding",
    "ObjectConflict",
    "ObjectNotFound",
    "ObjectStore",
    "ResultCorrupted",
    "ResultNotLoadable",
    "ResultRef",
    "StoredObject",
    "check_bytes",
    "database_key",
    "decode_result",
    "decode_stored",
    "encode",
    "encode_result",
    "is_signed",
    "missing",
    "object_key",
    "public_url",
    "sha256_of",
]


def __getattr__(name: str) -> Any:
    if name == "ObjectStore":
        from .objects import ObjectStore

        return ObjectStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
