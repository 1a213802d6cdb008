"""A reference to a stored result, as its event records it: where, which key, how to check it.

A payload without a ``"store"`` field refers to the database's result table (every log
written before object stores existed). A store URL never holds credentials: they stay in
the store's options, out of the log.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DATABASE = "database"
"""The ``store`` of a result kept in the database's result table."""
NOT_PERSISTED = "not persisted"
"""The ``store`` of a result kept only in executor memory (``persist_result=False``): nothing
was written, its reference only describes it (the log records it without a key)."""


def public_url(url: str) -> str:
    """``url`` without user, password, query or fragment: what the log may say of a store."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def database_key(run_id: str, task_key: str, attempt: int) -> str:
    """The key of an attempt's result in the database's result table."""
    return f"{run_id}/{task_key}/{attempt}"


def object_key(run_id: str, task_key: str, attempt: int, sha256: str) -> str:
    """The key of an attempt's result in an object store: scoped to the attempt and named by
    its content, so no retry or second writer ever replaces an object an event refers to."""
    return f"{run_id}/{task_key}/{attempt}-{sha256[:16]}"


@dataclass(frozen=True, slots=True)
class ResultRef:
    """Where a stored result is (``store``: ``DATABASE`` or a store URL, ``key`` inside it),
    how it is encoded (``format``, ``compression``), and its ``size`` and ``sha256``."""

    store: str
    key: str
    format: str
    size: int
    sha256: str
    compression: str | None = None

    @property
    def is_in_database(self) -> bool:
        """Whether the result is in the database's result table."""
        return self.store == DATABASE

    @property
    def is_persisted(self) -> bool:
        """Whether an object was stored (False: the value lives only in executor memory)."""
        return self.store != NOT_PERSISTED

    @property
    def run_id(self) -> str:
        """The run that produced the result (the key's first segment)."""
        return self.key.partition("/")[0]

    @property
    def task_key(self) -> str:
        """The task that produced the result (the key's segments between run and attempt)."""
        return self.key.partition("/")[2].rpartition("/")[0]

    def to_payload(self) -> dict[str, Any]:
        """The reference as an event's result payload."""
        payload: dict[str, Any] = {
            "ref": self.key, "format": self.format, "size": self.size, "sha256": self.sha256,
        }  # fmt: skip
        if not self.is_in_database:
            payload["store"] = self.store
        if self.compression is not None:
            payload["compression"] = self.compression
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> "ResultRef":
        """The reference of an event's result payload (without ``"store"``: the database)."""
        return cls(
            store=payload.get("store", DATABASE),
            key=payload["ref"],
            format=payload["format"],
            size=payload["size"],
            sha256=payload["sha256"],
            compression=payload.get("compression"),
        )
