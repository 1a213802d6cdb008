"""Canonical bytes of an event: the one encoding hashed on append and re-hashed in replay.

The canonical form of an event is the sorted-key JSON object of its six recorded fields
``{"payload", "run_id", "seq", "task_key", "ts", "type"}``. The payload is embedded as
its stored canonical text, verbatim, so verification hashes exactly what is stored.
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any

import orjson

from .errors import PayloadNotJSON

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of seq 1."""

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_JSON_TYPES = (dict, list, str, int, float, bool, type(None))


def _offending(value: Any) -> tuple[str, str]:
    """Find the first value that is not plain JSON: (its type name, why)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return type(key).__name__, f"dict key {key!r} is not a str"
            found = _offending(item)
            if found[0]:
                return found
        return "", ""
    if isinstance(value, list):
        for item in value:
            found = _offending(item)
            if found[0]:
                return found
        return "", ""
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return "int", f"integer {value} exceeds 64 bits"
    if not isinstance(value, _JSON_TYPES):
        return type(value).__name__, f"{type(value).__qualname__} is not a JSON type"
    return "", ""


def canonical_payload(payload: Mapping[str, Any]) -> bytes:
    """The canonical JSON bytes of a payload (sorted keys); the exact text stored.

    Raises ``PayloadNotJSON`` naming the offending type for anything but plain JSON.
    """
    try:
        return orjson.dumps(payload, option=_OPTIONS)
    except TypeError as exc:
        type_name, reason = _offending(payload)
        raise PayloadNotJSON(type_name or type(payload).__name__, reason or str(exc)) from exc


def format_ts(ts: datetime) -> str:
    """A timestamp as UTC ISO-8601 with microseconds, e.g. 2026-01-02T03:04:05.123456+00:00."""
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts!r} is naive; ledgerflow timestamps are UTC-aware")
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def ts_json(ts: datetime | str) -> bytes:
    """``format_ts`` of a timestamp as a JSON string (as the canonical bytes embed it); ``ts``
    may also be ISO-8601 text as stored or exported.

    Text is read as the database layer reads it (``datetime.fromisoformat``; naive text is
    UTC, as SQLite stores it), so a stored row hashes the same whether or not it was
    decoded first. Raises ``ValueError`` for text that is not a timestamp.
    """
    # Verification formats every event's ts: orjson writes the same text as format_ts, far
    # faster, for a time in UTC with microseconds (it omits a zero fraction).
    if isinstance(ts, str):
        parsed = datetime.fromisoformat(ts)
        if parsed.tzinfo is None:
            if parsed.microsecond:
                return orjson.dumps(parsed, option=orjson.OPT_NAIVE_UTC)
            parsed = parsed.replace(tzinfo=UTC)
        ts = parsed
    if ts.microsecond and ts.utcoffset() == _ZERO:
        return orjson.dumps(ts)
    return orjson.dumps(format_ts(ts))


_ZERO = timedelta(0)


class ChainHasher:
    """Hashes successive events of one run fast (the run id, types and last ts encoded once).

    A ts may be a datetime or ISO-8601 text as stored or exported (see ``ts_json``).
    """

    __slots__ = ("_template", "_ts", "_ts_json", "_types")

    def __init__(self, run_id: str) -> None:
        run_json = orjson.dumps(run_id).replace(b"%", b"%%")
        self._template = _TEMPLATE_START + run_json + _TEMPLATE_END
        self._ts: datetime | str | None = None
        self._ts_json = b""
        self._types: dict[str, bytes] = {}

    def canonical(
        self,
        seq: int,
        task_key: str | None,
        type: str,
        payload: bytes | str | Mapping[str, Any],
        ts: datetime | str,
    ) -> bytes:
        """Sorted-key JSON of the event's six hashed fields; a bytes/str payload is embedded verbatim."""
        if isinstance(payload, str):
            payload = payload.encode()
        elif not isinstance(payload, bytes):
            payload = canonical_payload(payload)
        if ts != self._ts:  # equal instants (or equal texts) format equally
            self._ts_json = ts_json(ts)
            self._ts = ts
        type_json = self._types.get(type)
        if type_json is None:
            type_json = self._types[type] = orjson.dumps(type)
        return self._template % (payload, seq, orjson.dumps(task_key), self._ts_json, type_json)

    def hash(
        self,
        prev_hash: str,
        seq: int,
        task_key: str | None,
        type: str,
        payload: bytes | str | Mapping[str, Any],
        ts: datetime | str,
    ) -> str:
        """The chained hash of this run's event: sha256(prev_hash || canonical bytes) as hex."""
        canonical = self.canonical(seq, task_key, type, payload, ts)
        return sha256(prev_hash.encode() + canonical).hexdigest()


# The canonical bytes, with the run id in between: sorted keys, no spaces.
_TEMPLATE_START = b'{"payload":%b,"run_id":'
_TEMPLATE_END = b',"seq":%d,"task_key":%b,"ts":%b,"type":%b}'
