"""Offline verification of an export (``ledgerflow verify --file``): no database involved.

Re-hashes the exported chain, checks that it ends at the export's checkpoint (a deleted
tail), that the header says what ``run.created`` recorded, optionally that it passes
through a checkpoint the auditor kept (a rewrite), and, given the key, the signature.
A tampered or truncated export gives a failed report, never an exception.
"""

import hmac
import itertools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from hashlib import sha256
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

import orjson

from ..storage.protocols import EventRow
from .checkpoint import Checkpoint, InvalidCheckpoint
from .export import FORMAT_VERSION, HEADER_FIELDS, SIGNATURE_ALGORITHM
from .verify import ChainCheck, VerifyReport

_EVENT_FIELDS = frozenset({"run_id", "seq", "task_key", "type", "ts", "prev_hash", "hash"})


class SignatureStatus(StrEnum):
    """What the export's signature says."""

    VALID = "valid"
    INVALID = "invalid"  # altered after signing, or signed with another key
    MISSING = "missing"  # a key was given but the export is not signed
    UNSIGNED = "unsigned"  # no key given, no signature
    NOT_CHECKED = "not checked"  # signed, but no key was given


@dataclass(frozen=True, slots=True)
class ExportReport:
    """The outcome of verifying an export: its chain (and checkpoints) and its signature."""

    run_id: str | None
    chain: VerifyReport
    signature: SignatureStatus
    checkpoint: Checkpoint | None  # the export's own, None if it has no valid one

    @property
    def ok(self) -> bool:
        """The chain holds and the signature is valid, or was not asked for."""
        return self.chain.ok and self.signature not in (SignatureStatus.INVALID, SignatureStatus.MISSING)


def verify_export(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    key: bytes | None = None,
    checkpoint: Checkpoint | None = None,
    keep_history: bool = False,
) -> ExportReport:
    """Verify an export file (a path or a binary file) with no database.

    ``key`` checks the signature (an unsigned export then fails); ``checkpoint`` is one
    the chain must pass through. ``keep_history`` puts every event's hash in the
    returned ``checkpoint.history``. Raises ``InvalidCheckpoint`` for a checkpoint of
    another run, ``OSError`` for a file that cannot be read.
    """
    if isinstance(source, str | os.PathLike):
        with Path(source).open("rb") as file:
            return verify_export(file, key=key, checkpoint=checkpoint, keep_history=keep_history)
    reader = _Lines(source, hmac.new(key, digestmod=sha256) if key is not None else None)
    header = _header(reader.next())
    if isinstance(header, str):
        return ExportReport(None, VerifyReport(False, None, header, 0), SignatureStatus.UNSIGNED, None)
    run_id: str = header["run_id"]
    if checkpoint is not None and checkpoint.run_id not in (None, run_id):
        raise InvalidCheckpoint(f"the checkpoint is of run {checkpoint.run_id}, not of run {run_id}")
    check = ChainCheck(run_id, checkpoint)
    events = _EventRows(reader, run_id, {} if keep_history else None)
    if not check.feed(events):
        events.read_on()  # to the checkpoint and the signature
    if events.problem is not None:
        check.fail(events.problem)
    found = _own_checkpoint(reader, run_id, events.history)
    own = found if isinstance(found, Checkpoint) else None
    if isinstance(found, str):
        check.fail(found)
    chain = check.report(None if own is None else (own.seq, own.hash))
    if chain.ok and (mismatch := _header_mismatch(header, events.first)) is not None:
        chain = VerifyReport(False, None, mismatch, chain.events_checked)
    signature, trailing = _signature(reader, key)
    if trailing is not None and chain.ok:
        chain = VerifyReport(False, None, trailing, chain.events_checked)
    return ExportReport(run_id, chain, signature, own)


def checkpoint_of_export(path: str | os.PathLike[str]) -> Checkpoint:
    """The checkpoint of an export, with every event's hash as its history.

    Raises ``InvalidCheckpoint`` if the export does not verify: it cannot vouch for a run.
    """
    report = verify_export(path, keep_history=True)
    if not report.chain.ok or report.checkpoint is None:
        where = f"first bad seq {report.chain.first_bad_seq}: " if report.chain.first_bad_seq else ""
        raise InvalidCheckpoint(
            f"{path} does not verify as an export ({where}{report.chain.reason}); "
            "it cannot serve as a checkpoint"
        )
    return report.checkpoint


class _Lines:
    """The export's lines, numbered and parsed (None: not a JSON object); every line but a
    signature goes into ``mac``. A line taken from ``raw`` can be pushed back."""

    def __init__(self, file: BinaryIO, mac: "hmac.HMAC | None") -> None:
        self.raw: Iterator[bytes] = iter(file)
        self.mac = mac
        self.number = 0

    def next(self) -> tuple[int, dict[str, Any] | None] | None:
        raw = next(self.raw, None)
        if raw is None:
            return None
        self.number += 1
        parsed = _parse(raw)
        if self.mac is not None and (parsed is None or parsed.get("kind") != "signature"):
            self.mac.update(raw)
        return self.number, parsed

    def push_back(self, raw: bytes) -> None:
        """Give ``raw`` (taken from ``raw``, not numbered nor digested) back, to read next."""
        self.raw = itertools.chain([raw], self.raw)

    def digest(self) -> str | None:
        """The HMAC of the lines read so far, signatures excepted (None without a key)."""
        return None if self.mac is None else self.mac.hexdigest()


class _EventRows:
    """Iterates the event lines as rows, up to the first other line (pushed back); every
    line read goes into the HMAC. After an unreadable line (``problem``) it yields no more
    rows but reads on, as it does when iterated again after the consumer stopped early."""

    def __init__(self, lines: _Lines, run_id: str, history: dict[int, str] | None) -> None:
        self._lines = lines
        self._run_id = run_id
        self.history = history
        self.first: dict[str, Any] | None = None
        self.problem: str | None = None

    def __iter__(self) -> Iterator[EventRow]:
        lines, history = self._lines, self.history
        for raw in lines.raw:  # the hot loop of offline verification: one pass, inline
            parsed = _parse(raw)
            if parsed is not None and parsed.get("kind") != "event":
                lines.push_back(raw)
                return
            lines.number += 1
            if lines.mac is not None:
                lines.mac.update(raw)
            if self.problem is not None:
                continue
            row = None if parsed is None else _event_row(parsed)
            if parsed is None or row is None or parsed["run_id"] != self._run_id:
                self.problem = _problem(lines.number, parsed, row)
                continue
            if self.first is None:
                self.first = parsed
            if history is not None:
                history[row[0]] = row[6]
            yield row

    def read_on(self) -> None:
        """Read past the remaining event lines (after the consumer stopped at a break)."""
        for _ in self:
            pass


def _problem(number: int, parsed: dict[str, Any] | None, row: EventRow | None) -> str:
    if parsed is None:
        return f"line {number} is not a JSON object"
    if row is None:
        return f"line {number} is not a complete event line"
    return f"line {number} is an event of run {parsed['run_id']!r}"


def _parse(raw: bytes) -> dict[str, Any] | None:
    """A line's JSON object, or None."""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed if type(parsed) is dict else None


def _event_row(line: dict[str, Any]) -> EventRow | None:
    """The row of an event line, or None if a field is missing, the payload is neither an
    object (``payload``) nor text (``payload_text``), or the seq is not an integer.

    Other fields of the wrong type fail the chain check where they are."""
    if not line.keys() >= _EVENT_FIELDS:
        return None
    if "payload" in line:
        payload = line["payload"]
        if type(payload) is not dict:
            return None
    else:
        payload = line.get("payload_text")
        if type(payload) is not str:
            return None
    seq = line["seq"]
    if type(seq) is not int:
        return None
    return seq, line["task_key"], line["type"], payload, line["ts"], line["prev_hash"], line["hash"]


def _header(line: tuple[int, dict[str, Any] | None] | None) -> dict[str, Any] | str:
    """The header line, or why the file is not an export this version reads."""
    if line is None:
        return "the file is empty: not a ledgerflow export"
    header = line[1]
    if header is None or header.get("kind") != "header" or not isinstance(header.get("run_id"), str):
        return "line 1 is not an export header: not a ledgerflow export"
    if header.get("format") != FORMAT_VERSION:
        return (
            f"export format {header.get('format')!r} is not one this version reads "
            f"({FORMAT_VERSION}); verify it with the ledgerflow version that wrote it"
        )
    return header


def _header_mismatch(header: Mapping[str, Any], first: Mapping[str, Any] | None) -> str | None:
    """Why the header does not say what the run.created event (seq 1) recorded, if so."""
    if first is None:
        return None  # no events: the chain check has already failed
    if first.get("type") != "run.created" or not isinstance(first.get("payload"), dict):
        return "the first event is not a run.created event with a payload object"
    created = first["payload"]
    changed = [name for name in HEADER_FIELDS if header.get(name) != created.get(name)]
    if changed:
        return f"the header's {', '.join(changed)} differ from what run.created (seq 1) recorded"
    return None


def _own_checkpoint(lines: _Lines, run_id: str, history: dict[int, str] | None) -> Checkpoint | str:
    """The export's checkpoint line after the events, or why there is none."""
    line = lines.next()
    parsed = None if line is None else line[1]
    if line is None or parsed is None or parsed.get("kind") != "checkpoint":
        return "no checkpoint line after the events (the export is truncated or edited)"
    number = line[0]
    if parsed.get("run_id") != run_id:
        return f"the checkpoint on line {number} is of run {parsed.get('run_id')!r}, not {run_id}"
    history_view = MappingProxyType(history or {})
    try:
        return Checkpoint(parsed.get("seq", 0), parsed.get("hash", ""), run_id, history_view)
    except InvalidCheckpoint as exc:
        return f"line {number}: {exc}"


def _signature(lines: _Lines, key: bytes | None) -> tuple[SignatureStatus, str | None]:
    """The signature's status, and what is wrong with the lines after the checkpoint, if so."""
    digest = lines.digest()
    line = lines.next()
    if line is None:
        return SignatureStatus.MISSING if key is not None else SignatureStatus.UNSIGNED, None
    number, parsed = line
    if parsed is None or parsed.get("kind") != "signature":
        unsigned = SignatureStatus.MISSING if key is not None else SignatureStatus.UNSIGNED
        return unsigned, f"unexpected line {number} after the checkpoint"
    extra = lines.next()
    trailing = None if extra is None else f"unexpected line {extra[0]} after the signature"
    if parsed.get("algorithm") != SIGNATURE_ALGORITHM or not isinstance(parsed.get("hmac"), str):
        return SignatureStatus.INVALID, trailing
    if digest is None:
        return SignatureStatus.NOT_CHECKED, trailing
    is_valid = hmac.compare_digest(digest, parsed["hmac"])
    return (SignatureStatus.VALID if is_valid else SignatureStatus.INVALID), trailing
