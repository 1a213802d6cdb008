"""Where results go: a result storage setting, checked, and the sink an executor writes to.

A setting is ``None`` (the database's result table) or an fsspec URL (``file:///shared/results``,
``s3://bucket/prefix``...). A ``ResultSink`` travels inside each invocation to where the task
runs; its storage options (credentials, endpoints) are handed to fsspec there and are never
shown in its repr nor recorded.
"""

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..engine.core.errors import LedgerflowError

if TYPE_CHECKING:
    from .objects import ObjectStore

INLINE_LIMIT = 1024
"""Bytes of JSON a result may have to travel inside its event (the default)."""

COMPRESSION_THRESHOLD = 1 << 16
"""Bytes from which a stored result is compressed, when a compression is set (the default)."""

_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure", "adl": "azure"}


class ResultStorageInvalid(LedgerflowError):
    """A result storage setting that cannot be used (unknown protocol, missing package...)."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(f"result storage {url!r}: {problem}")


def check_storage(url: str | None) -> str | None:
    """``url`` once fsspec knows its protocol and can load its filesystem here; raises
    ``ResultStorageInvalid`` naming the problem (and the extra to install)."""
    if url is None:
        return None
    import fsspec  # imported only when a store is configured

    protocol = urlsplit(url).scheme
    if not protocol or "://" not in url:
        raise ResultStorageInvalid(url, "expected a URL such as file:///shared/results or s3://bucket/prefix")
    if protocol not in fsspec.available_protocols():
        raise ResultStorageInvalid(url, f"unknown protocol {protocol!r} (fsspec knows no such filesystem)")
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        extra = _EXTRAS.get(protocol)
        hint = f"pip install ledgerflow[{extra}]" if extra else str(exc)
        raise ResultStorageInvalid(url, f"the {protocol}:// filesystem is not installed: {hint}") from None
    return url


def check_size(name: str, size: int) -> int:
    """``size`` if it is a whole number of bytes >= 0, else ``ValueError`` naming the setting."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"{name} must be a whole number of bytes >= 0, not {size!r}")
    return size


@dataclass(frozen=True, slots=True)
class ResultSink:
    """Where an attempt's result goes: ``url`` (None: back to the driver, for the database)
    with its fsspec ``options``; JSON results up to ``inline_limit`` bytes travel inline;
    stored results of ``compression_threshold`` bytes or more are compressed with
    ``compression`` (None: never) when they compress.

    ``persist`` False: nowhere; the value stays in executor memory and only its format, size
    and sha256 are reported (``url`` is unused), with its encoded bytes too if ``to_driver``
    (the flow returns it: the driving process keeps it for ``run.result()``).
    """

    url: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    inline_limit: int = INLINE_LIMIT
    persist: bool = True
    to_driver: bool = False
    compression: str | None = None
    compression_threshold: int = COMPRESSION_THRESHOLD

    @property
    def keeps_values(self) -> bool:
        """Whether a result's value may stay where the task ran (written to an object store
        there, or not persisted), the driver getting only its reference."""
        return self.url is not None or not self.persist

    def store(self) -> "ObjectStore":
        """The object store of ``url``, opened once per process."""
        assert self.url is not None
        return open_store(self.url, self.options)


IN_DATABASE = ResultSink()
"""The sink of results the driver stores in the database (JSON up to 1 KiB inline)."""

_opened: dict[tuple[str, str], "ObjectStore"] = {}
_lock = threading.Lock()


def open_store(url: str, options: Mapping[str, Any] | None = None) -> "ObjectStore":
    """The object store of ``url`` with ``options``, opened once per process."""
    from .objects import ObjectStore

    key = (url, repr(sorted((options or {}).items())))
    with _lock:
        store = _opened.get(key)
        if store is None:
            store = _opened[key] = ObjectStore(url, options)
        return store
