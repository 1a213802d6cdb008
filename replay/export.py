"""Export a run as JSON Lines that an auditor verifies offline (``ledgerflow export``).

The lines, each a JSON object with a ``kind``:

- ``header``: format version, run id, flow, flow_ref, parameters, graph, graph_hash,
  code (task name -> code hash) and engine_version as ``run.created`` recorded them,
  exported_at, exported_by;
- ``event``, one per event in seq order up to the head: every stored field (run_id, seq,
  task_key, type, ts, prev_hash, hash) and the payload. The payload is embedded as the stored
  canonical text; a stored text that is not canonical JSON (a tampered row) is kept
  verbatim as ``payload_text``, so the export re-hashes exactly as the database does;
- ``checkpoint``: the run's head (seq, hash) as the runs read model records it;
- ``signature`` (with a key): HMAC-SHA256, in hex, of every byte before that line.

Rows are streamed in chunks: memory stays flat whatever the run's length.
"""

import hmac
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ..storage.codec import canonical_payload, format_ts, ts_json
from ..storage.protocols import EventRow, StoredRun
from .checkpoint import Checkpoint
from .errors import ExportWriteFailed
from .stored import Source, event_log

FORMAT_VERSION = 1
HEADER_FIELDS = ("flow", "flow_ref", "parameters", "graph", "graph_hash", "code", "engine_version")
"""Header fields copied from the ``run.created`` payload (null when it has none)."""
SIGNATURE_ALGORITHM = "HMAC-SHA256"
_LINES_PER_WRITE = 1_000


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote."""

    run_id: str
    events: int
    checkpoint: Checkpoint
    is_signed: bool


def export_run(
    source: Source,
    run_id: str,
    target: str | os.PathLike[str] | BinaryIO,
    *,
    exported_by: str,
    key: bytes | None = None,
    now: datetime | None = None,
) -> ExportSummary:
    """Write ``run_id``'s export to ``target`` (a path, or a binary file).

    ``key`` signs it; ``exported_by`` names the exporting software. Raises ``RunNotFound``;
    for a path, ``OSError`` if it cannot be opened, ``ExportWriteFailed`` if writing it fails.
    """
    if key is not None and not key:
        raise ValueError("the export signing key is empty")
    if isinstance(target, str | os.PathLike):
        return _export_to_path(source, run_id, Path(target), exported_by, key, now)
    with event_log(source).read_rows(run_id, upto_head=True) as stored:
        return _write(stored, target, exported_by, key, now or datetime.now(UTC))


def _export_to_path(
    source: Source, run_id: str, path: Path, exported_by: str, key: bytes | None,
    now: datetime | None,
) -> ExportSummary:  # fmt: skip
    """A regular file (or a new path) is replaced whole: the export is written beside it as
    ``NAME.partial``, synced, then renamed over it. Anything else (a symlink, a FIFO, a
    device) is written through, so a symlink stays one and a FIFO's reader gets the export."""
    at = now or datetime.now(UTC)
    with event_log(source).read_rows(run_id, upto_head=True) as stored:  # an unknown run opens no file
        if not _is_replaceable(path):
            return _write_file(path, path, stored, exported_by, key, at)
        partial = path.with_name(path.name + ".partial")
        try:
            summary = _write_file(partial, path, stored, exported_by, key, at)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
        return summary


def _is_replaceable(path: Path) -> bool:
    """``path`` is a regular file (not a symlink to one) or does not exist."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except FileNotFoundError:
        return True


def _write_file(
    file: Path, target: Path, stored: StoredRun, exported_by: str, key: bytes | None, now: datetime
) -> ExportSummary:
    """Write the export to ``file`` (synced if it is a regular file). An ``OSError`` opening
    it propagates; one writing it (a full disk, a closed pipe) is ``ExportWriteFailed``."""
    out = file.open("wb")
    try:
        with out:
            summary = _write(stored, out, exported_by, key, now)
            if stat.S_ISREG(os.fstat(out.fileno()).st_mode):
                os.fsync(out.fileno())
    except OSError as exc:
        raise ExportWriteFailed(str(target), exc.strerror or str(exc)) from exc
    return summary


def _write(
    stored: StoredRun, out: BinaryIO, exported_by: str, key: bytes | None, now: datetime
) -> ExportSummary:
    mac = hmac.new(key, digestmod=sha256) if key is not None else None
    lines = _EventLines(stored.run_id, stored.rows)
    first = next(lines, None)
    header = _header(stored.run_id, lines.created, exported_by, now)
    pending = [header] if first is None else [header, first]
    for line in lines:
        pending.append(line)
        if len(pending) >= _LINES_PER_WRITE:
            _emit(out, mac, pending)
            pending = []
    checkpoint = _checkpoint(stored, lines)
    pending.append(
        orjson.dumps({"kind": "checkpoint", "run_id": stored.run_id, "seq": checkpoint.seq,
                      "hash": checkpoint.hash}) + b"\n"
    )  # fmt: skip
    _emit(out, mac, pending)
    if mac is not None:
        signature = {"kind": "signature", "algorithm": SIGNATURE_ALGORITHM, "hmac": mac.hexdigest()}
        out.write(orjson.dumps(signature) + b"\n")
    out.flush()
    return ExportSummary(stored.run_id, lines.count, checkpoint, mac is not None)


def _emit(out: BinaryIO, mac: "hmac.HMAC | None", lines: list[bytes]) -> None:
    data = b"".join(lines)
    if mac is not None:
        mac.update(data)
    out.write(data)


def _checkpoint(stored: StoredRun, lines: "_EventLines") -> Checkpoint:
    """The read model's head; without a runs row, the last exported event."""
    if stored.head is not None:
        return Checkpoint(stored.head[0], stored.head[1], stored.run_id)
    assert lines.last is not None  # open_run found events, or it raised RunNotFound
    return Checkpoint(lines.last[0], lines.last[1], stored.run_id)


def _header(
    run_id: str, created: dict[str, Any] | None, exported_by: str, now: datetime
) -> bytes:
    recorded = created or {}
    header: dict[str, Any] = {"kind": "header", "format": FORMAT_VERSION, "run_id": run_id}
    header.update({name: recorded.get(name) for name in HEADER_FIELDS})
    header.update(exported_at=format_ts(now), exported_by=exported_by)
    return orjson.dumps(header) + b"\n"


class _EventLines:
    """Iterates the event lines of stored rows; remembers the run.created payload, the last
    (seq, hash) and the count."""

    def __init__(self, run_id: str, rows: Iterator[EventRow]) -> None:
        self._run_id = run_id
        self._rows = rows
        self.created: dict[str, Any] | None = None
        self.last: tuple[int, str] | None = None
        self.count = 0
        self._ts: datetime | str | None = None
        self._ts_json: orjson.Fragment | str = ""

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        seq, task_key, type_, payload, ts, prev_hash, digest = next(self._rows)
        line: dict[str, Any] = {
            "kind": "event", "run_id": self._run_id, "seq": seq, "task_key": task_key,
            "type": type_, "ts": self._json_of(ts), "prev_hash": prev_hash, "hash": digest,
        }  # fmt: skip
        parsed = _canonical_object(payload)
        if parsed is None:
            line["payload_text"] = payload
        else:
            line["payload"] = orjson.Fragment(payload)
            if seq == 1 and type_ == "run.created":
                self.created = parsed
        self.last = (seq, digest)
        self.count += 1
        return orjson.dumps(line) + b"\n"

    def _json_of(self, ts: datetime | str) -> orjson.Fragment | str:
        """The canonical ts; text that is not a timestamp (a tampered row) verbatim."""
        if ts != self._ts:
            try:
                self._ts_json = orjson.Fragment(ts_json(ts))
            except ValueError:
                self._ts_json = str(ts)
            self._ts = ts
        return self._ts_json


def _canonical_object(text: str) -> dict[str, Any] | None:
    """The payload object if ``text`` is exactly its canonical JSON, else None."""
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict) or canonical_payload(parsed) != text.encode():
        return None
    return parsed
