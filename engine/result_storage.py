"""Where a run's results are stored: the engine's setting, overridden per flow and per task.

``result_storage`` is ``None`` (the database: the default) or an fsspec URL; ``"database"``
names the database explicitly (a task can keep its results there under a flow that sets a
store). The engine's storage options go to the stores of its own URL's protocol only, and
are never recorded: the log holds a store's public URL (``results.refs.public_url``). The
engine's ``result_compression`` (``"zstd"``) applies to every stored result from its
``compression_threshold`` on.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..results.compression import check_compression
from ..results.refs import DATABASE
from ..results.sinks import (
    COMPRESSION_THRESHOLD,
    INLINE_LIMIT,
    ResultSink,
    check_size,
    check_storage,
    open_store,
)

if TYPE_CHECKING:
    from ..results.objects import ObjectStore

STORAGE_ENV = "LEDGERFLOW_RESULT_STORAGE"
INLINE_LIMIT_ENV = "LEDGERFLOW_INLINE_LIMIT"
COMPRESSION_ENV = "LEDGERFLOW_RESULT_COMPRESSION"
THRESHOLD_ENV = "LEDGERFLOW_COMPRESSION_THRESHOLD"


def checked_setting(url: str | None) -> str | None:
    """A flow's or task's ``result_storage``: None (inherit), ``"database"`` or a usable URL."""
    return url if url is None or url == DATABASE else check_storage(url)


def _size_from_env(name: str, default: int) -> int:
    text = os.environ.get(name)
    try:
        return int(text) if text else default
    except ValueError:
        raise ValueError(f"${name} must be a whole number of bytes, not {text!r}") from None


@dataclass(frozen=True, slots=True)
class ResultPlacement:
    """The engine's result storage (``url``, None: the database), the fsspec ``options`` of
    its protocol, the inline limit of JSON results, and the compression of stored results
    (None: none) from their threshold on."""

    url: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    inline_limit: int = INLINE_LIMIT
    compression: str | None = None
    compression_threshold: int = COMPRESSION_THRESHOLD

    @classmethod
    def configured(
        cls,
        url: str | None,
        options: Mapping[str, Any] | None,
        inline_limit: int | None,
        compression: str | None = None,
        compression_threshold: int | None = None,
    ) -> "ResultPlacement":
        """The placement of these arguments, else of the environment (``$LEDGERFLOW_RESULT_STORAGE``,
        ``$LEDGERFLOW_INLINE_LIMIT``, ``$LEDGERFLOW_RESULT_COMPRESSION``,
        ``$LEDGERFLOW_COMPRESSION_THRESHOLD``), else the database with 1 KiB inline and no
        compression; ``"none"`` names no compression."""
        url = url if url is not None else os.environ.get(STORAGE_ENV) or None
        url = None if url == DATABASE else check_storage(url)
        limit = inline_limit if inline_limit is not None else _size_from_env(INLINE_LIMIT_ENV, INLINE_LIMIT)
        compression = compression if compression is not None else os.environ.get(COMPRESSION_ENV) or None
        threshold = compression_threshold
        if threshold is None:
            threshold = _size_from_env(THRESHOLD_ENV, COMPRESSION_THRESHOLD)
        return cls(
            url,
            dict(options or {}),
            check_size("inline_limit", limit),
            check_compression(None if compression == "none" else compression),
            check_size("compression_threshold", threshold),
        )

    def sink(self, *settings: str | None, persist: bool = True, to_driver: bool = False) -> ResultSink:
        """The sink of a task: the first of ``settings`` that is set (task, then flow), else
        the engine's URL; with ``persist`` False, none (``to_driver``: see ``ResultSink``)."""
        if not persist:
            return ResultSink(None, {}, self.inline_limit, persist=False, to_driver=to_driver)
        url = next((setting for setting in settings if setting is not None), self.url)
        url = None if url == DATABASE else url
        return ResultSink(
            url,
            {} if url is None else self.options_for(url),
            self.inline_limit,
            compression=self.compression,
            compression_threshold=self.compression_threshold,
        )

    def options_for(self, url: str) -> Mapping[str, Any]:
        """The options a store at ``url`` is opened with: the engine's, for its own protocol."""
        if self.url is None or urlsplit(url).scheme != urlsplit(self.url).scheme:
            return {}
        return self.options

    def open(self, url: str) -> "ObjectStore":
        """The object store of a URL as a reference records it (a ``StoreOpener``)."""
        return open_store(url, self.options_for(url))


IN_DATABASE = ResultPlacement()
"""The default placement: results in the database, JSON up to 1 KiB inline, none compressed."""
