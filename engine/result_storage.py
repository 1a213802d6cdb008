"""Where a run's results are stored: the engine's setting, overridden per flow and per task.

``result_storage`` is ``None`` (the database: the default) or an fsspec URL; ``"database"``
names the database explicitly (a task can keep its results there under a flow that sets a
store). The engine's storage options go to the stores of its own URL's protocol only, and
are never recorded: the log holds a store's public URL (``results.refs.public_url``).
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..results.refs import DATABASE
from ..results.sinks import INLINE_LIMIT, ResultSink, check_inline_limit, check_storage, open_store

if TYPE_CHECKING:
    from ..results.objects import ObjectStore

STORAGE_ENV = "LEDGERFLOW_RESULT_STORAGE"
INLINE_LIMIT_ENV = "LEDGERFLOW_INLINE_LIMIT"


def checked_setting(url: str | None) -> str | None:
    """A flow's or task's ``result_storage``: None (inherit), ``"database"`` or a usable URL."""
    return url if url is None or url == DATABASE else check_storage(url)


@dataclass(frozen=True, slots=True)
class ResultPlacement:
    """The engine's result storage (``url``, None: the database), the fsspec ``options`` of
    its protocol, and the inline limit of JSON results."""

    url: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    inline_limit: int = INLINE_LIMIT

    @classmethod
    def configured(
        cls, url: str | None, options: Mapping[str, Any] | None, inline_limit: int | None
    ) -> "ResultPlacement":
        """The placement of these arguments, else of the environment (``$LEDGERFLOW_RESULT_STORAGE``,
        ``$LEDGERFLOW_INLINE_LIMIT``), else the database with 1 KiB inline."""
        url = url if url is not None else os.environ.get(STORAGE_ENV) or None
        if inline_limit is None:
            from_env = os.environ.get(INLINE_LIMIT_ENV)
            try:
                inline_limit = int(from_env) if from_env else INLINE_LIMIT
            except ValueError:
                raise ValueError(
                    f"${INLINE_LIMIT_ENV} must be a whole number of bytes, not {from_env!r}"
                ) from None
        url = None if url == DATABASE else check_storage(url)
        return cls(url, dict(options or {}), check_inline_limit(inline_limit))

    def sink(self, *settings: str | None, persist: bool = True, to_driver: bool = False) -> ResultSink:
        """The sink of a task: the first of ``settings`` that is set (task, then flow), else
        the engine's URL; with ``persist`` False, none (``to_driver``: see ``ResultSink``)."""
        if not persist:
            return ResultSink(None, {}, self.inline_limit, persist=False, to_driver=to_driver)
        url = next((setting for setting in settings if setting is not None), self.url)
        if url is None or url == DATABASE:
            return ResultSink(None, {}, self.inline_limit)
        return ResultSink(url, self.options_for(url), self.inline_limit)

    def options_for(self, url: str) -> Mapping[str, Any]:
        """The options a store at ``url`` is opened with: the engine's, for its own protocol."""
        if self.url is None or urlsplit(url).scheme != urlsplit(self.url).scheme:
            return {}
        return self.options

    def open(self, url: str) -> "ObjectStore":
        """The object store of a URL as a reference records it (a ``StoreOpener``)."""
        return open_store(url, self.options_for(url))


IN_DATABASE = ResultPlacement()
"""The default placement: results in the database, JSON up to 1 KiB inline."""
