"""Exports verify offline, and every kind of tampering with an export is found at its seq."""

import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

import ledgerflow as lf
from ledgerflow.replay import (
    Checkpoint,
    InvalidCheckpoint,
    SignatureStatus,
    VerifyReport,
    checkpoint_of_export,
    export_run,
    verify_export,
    verify_run,
)
from ledgerflow.storage import RunNotFound, Storage
from ledgerflow.storage.codec import ChainHasher

from ..engine import flows
from ..storage.builders import execute, new_run

RUN = "run-x"
KEY = b"the auditor's key"
Lines = list[Any]  # parsed lines: objects, or anything a tampered file holds


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    with lf.Engine(database_url, executor="threads", home=tmp_path) as opened:
        yield opened


@pytest.fixture
def stored(storage: Storage) -> Storage:
    """A run of 10 events (seq 1..10) written through the storage log."""
    new_run(storage.log, RUN, tasks=9)
    return storage


def export_of(storage: Storage, path: Path, key: bytes | None = None) -> Path:
    export_run(storage.database, RUN, path, exported_by="tests", key=key)
    return path


def read_lines(path: Path) -> Lines:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def write_lines(path: Path, lines: Lines) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def bad_at(report: VerifyReport, seq: int | None, reason: str = "") -> None:
    assert not report.ok, report
    assert report.first_bad_seq == seq, report
    assert reason in str(report.reason), report


def test_a_real_run_exports_with_its_header_and_verifies_offline(
    engine: lf.Engine, tmp_path: Path
) -> None:
    run = engine.run(flows.chain, n=3)
    summary = engine.export(run.id, tmp_path / "run.jsonl", key=KEY)
    events = engine.events(run.id)
    lines = read_lines(tmp_path / "run.jsonl")
    header, checkpoint, signature = lines[0], lines[-2], lines[-1]
    created = events[0].payload
    assert header["kind"] == "header" and header["format"] == 1 and header["run_id"] == run.id
    for name in ("flow", "flow_ref", "parameters", "graph", "graph_hash", "engine_version"):
        assert header[name] == created[name], name
    assert header["parameters"] == {"n": 3} and header["flow"] == "chain"
    assert header["code"] == created["code"] and set(header["code"]) == {"inc", "total", "numbers", "add"}
    assert header["exported_by"].startswith("ledgerflow ")
    assert [line["kind"] for line in lines[1:-2]] == ["event"] * len(events)
    for line, event in zip(lines[1:-2], events, strict=True):
        assert line == {
            "kind": "event", "run_id": run.id, "seq": event.seq, "task_key": event.task_key,
            "type": event.type, "ts": event.ts.isoformat(timespec="microseconds"),
            "prev_hash": event.prev_hash, "hash": event.hash, "payload": event.payload,
        }  # fmt: skip
    assert checkpoint == {"kind": "checkpoint", "run_id": run.id, "seq": events[-1].seq,
                          "hash": events[-1].hash}  # fmt: skip
    assert signature["kind"] == "signature" and signature["algorithm"] == "HMAC-SHA256"
    assert summary.events == len(events) and summary.is_signed
    assert summary.checkpoint == Checkpoint(events[-1].seq, events[-1].hash, run.id)
    report = verify_export(tmp_path / "run.jsonl", key=KEY)
    assert report.ok and report.signature is SignatureStatus.VALID and report.run_id == run.id
    assert report.chain == VerifyReport(True, None, None, len(events))
    assert report.checkpoint == summary.checkpoint


@pytest.mark.parametrize(
    ("signed_with", "checked_with", "status", "is_ok"),
    [
        (KEY, KEY, SignatureStatus.VALID, True),
        (KEY, None, SignatureStatus.NOT_CHECKED, True),
        (KEY, b"another key", SignatureStatus.INVALID, False),
        (None, KEY, SignatureStatus.MISSING, False),
        (None, None, SignatureStatus.UNSIGNED, True),
    ],
)
def test_the_signature_is_checked_with_the_auditors_key(
    stored: Storage, tmp_path: Path, signed_with: bytes | None, checked_with: bytes | None,
    status: SignatureStatus, is_ok: bool,
) -> None:  # fmt: skip
    report = verify_export(export_of(stored, tmp_path / "x.jsonl", signed_with), key=checked_with)
    assert report.chain.ok
    assert (report.signature, report.ok) == (status, is_ok)


def _edit_payload(lines: Lines) -> None:
    lines[5]["payload"]["attempt"] = 2


def _delete(lines: Lines) -> None:
    del lines[5]


def _insert(lines: Lines) -> None:
    lines.insert(5, {**lines[4], "seq": 5, "task_key": "forged", "prev_hash": lines[4]["hash"]})


def _reorder(lines: Lines) -> None:
    lines[4], lines[6] = lines[6], lines[4]


def _break_link(lines: Lines) -> None:
    lines[7]["prev_hash"] = "a" * 64


def _edit_ts(lines: Lines) -> None:
    lines[5]["ts"] = "2020-01-01T00:00:00.000000+00:00"


def _truncate_tail(lines: Lines) -> None:
    del lines[8:11]  # events 8..10; the checkpoint line stays


def _unreadable_line(lines: Lines) -> None:
    lines[5] = "not json"


@pytest.mark.parametrize(
    ("tamper", "seq", "reason"),
    [
        (_edit_payload, 5, "edited row"),
        (_edit_ts, 5, "edited row"),
        (_delete, 5, "seq 5 is missing"),
        (_insert, 5, "edited row"),
        (_reorder, 4, "seq 4 is missing"),
        (_break_link, 7, "prev_hash does not link"),
        (_truncate_tail, 8, "seqs 8..10 are missing"),
        (_unreadable_line, 5, "line 6 is not a JSON object"),
    ],
)
def test_a_tampered_export_fails_at_the_exact_seq(
    stored: Storage, tmp_path: Path, tamper: Callable[[Lines], None], seq: int, reason: str
) -> None:
    lines = read_lines(export_of(stored, tmp_path / "x.jsonl", KEY))
    tamper(lines)
    path = write_lines(tmp_path / "tampered.jsonl", lines)
    bad_at(verify_export(path).chain, seq, reason)
    signed = verify_export(path, key=KEY)  # read to the end: the signature no longer matches
    bad_at(signed.chain, seq, reason)
    assert signed.signature is SignatureStatus.INVALID and not signed.ok


def _rechain(lines: Lines, from_seq: int) -> Lines:
    """Edit the event of ``from_seq`` and re-hash every later one and the checkpoint, as a
    forger without the key would: a self-consistent chain, the signature dropped."""
    hasher = ChainHasher(RUN)
    events = lines[1:-1]
    prev = events[from_seq - 2]["hash"] if from_seq > 1 else "0" * 64
    for line in events[from_seq - 1 :]:
        if line["seq"] == from_seq:
            line["payload"] = {**line["payload"], "attempt": 9}
        line["prev_hash"] = prev
        line["hash"] = prev = hasher.hash(
            prev, line["seq"], line["task_key"], line["type"], line["payload"], line["ts"]
        )
    return [lines[0], *events, {**lines[-1], "hash": prev}]


def test_a_rewritten_export_is_found_by_a_kept_checkpoint_or_the_signature(
    stored: Storage, tmp_path: Path
) -> None:
    original = export_of(stored, tmp_path / "x.jsonl", KEY)
    lines = read_lines(original)
    forged = write_lines(tmp_path / "forged.jsonl", _rechain(lines[:-1], 3))
    assert verify_export(forged).ok  # consistent hashes, no key: nothing to see
    report = verify_export(forged, key=KEY)
    assert report.chain.ok and report.signature is SignatureStatus.MISSING and not report.ok
    resigned = write_lines(tmp_path / "resigned.jsonl", [*_rechain(lines[:-1], 3), lines[-1]])
    assert verify_export(resigned, key=KEY).signature is SignatureStatus.INVALID
    head = Checkpoint(lines[-2]["seq"], lines[-2]["hash"], RUN)
    bad_at(verify_export(forged, checkpoint=head).chain, 10, "rewritten at or before seq 10")
    kept = checkpoint_of_export(original)
    bad_at(verify_export(forged, checkpoint=kept).chain, 3, "rewritten from seq 3")


def test_a_truncated_export_with_a_forged_checkpoint_is_found_by_a_kept_one(
    stored: Storage, tmp_path: Path
) -> None:
    lines = read_lines(export_of(stored, tmp_path / "x.jsonl"))
    kept = Checkpoint(lines[-1]["seq"], lines[-1]["hash"])
    cut = [*lines[:7], {**lines[-1], "seq": 6, "hash": lines[6]["hash"]}]
    path = write_lines(tmp_path / "cut.jsonl", cut)
    assert verify_export(path).ok
    bad_at(verify_export(path, checkpoint=kept).chain, 7, "seqs 7..10 are missing")


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda lines: lines[0].update(parameters={"n": 4}), "header's parameters"),
        (lambda lines: lines.pop(), "no checkpoint line"),
        (lambda lines: lines.append(lines[1]), "unexpected line 13 after the checkpoint"),
        (lambda lines: lines[-1].update(run_id="other"), "is of run 'other'"),
        (lambda lines: lines[-1].update(seq="ten"), "not a seq"),
    ],
)
def test_a_tampered_header_or_checkpoint_line_fails(
    stored: Storage, tmp_path: Path, tamper: Callable[[Lines], None], reason: str
) -> None:
    lines = read_lines(export_of(stored, tmp_path / "x.jsonl"))
    tamper(lines)
    report = verify_export(write_lines(tmp_path / "tampered.jsonl", lines))
    assert not report.ok and reason in str(report.chain.reason), report


def test_a_line_after_the_signature_fails(stored: Storage, tmp_path: Path) -> None:
    path = export_of(stored, tmp_path / "x.jsonl", KEY)
    path.write_bytes(path.read_bytes() + b'{"kind":"note"}\n')
    report = verify_export(path, key=KEY)
    assert report.signature is SignatureStatus.VALID
    bad_at(report.chain, None, "unexpected line 14 after the signature")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (b'{"kind":"event"}\n', "line 1 is not an export header"),
        (b"[1, 2]\n", "line 1 is not an export header"),
        (b'{"kind":"header","format":99,"run_id":"r"}\n', "export format 99"),
    ],
)
def test_a_file_that_is_no_export_says_so(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "other.jsonl"
    path.write_bytes(content)
    report = verify_export(path, key=KEY)
    assert not report.ok
    bad_at(report.chain, None, reason)


_SET_PAYLOAD = "UPDATE events SET payload = :text WHERE run_id = :run AND seq = 5"


@pytest.mark.parametrize(
    ("sql", "params", "seq"),
    [
        (_SET_PAYLOAD, {"text": '{"attempt":2}'}, 5),
        (_SET_PAYLOAD, {"text": "{broken"}, 5),
        (_SET_PAYLOAD, {"text": '{ "attempt": 1 }'}, 5),
        ("DELETE FROM events WHERE run_id = :run AND seq = 4", {}, 4),
        ("DELETE FROM events WHERE run_id = :run AND seq >= 8", {}, 8),
    ],
)
def test_an_export_of_a_tampered_log_fails_where_the_database_does(
    stored: Storage, tmp_path: Path, sql: str, params: dict[str, str], seq: int
) -> None:
    execute(stored.database, sql, run=RUN, **params)
    bad_at(verify_run(stored, RUN), seq)
    bad_at(verify_export(export_of(stored, tmp_path / "x.jsonl")).chain, seq)


def test_a_payload_stored_as_other_text_is_exported_verbatim(stored: Storage, tmp_path: Path) -> None:
    """A row whose stored text is not canonical JSON (only by tampering) keeps its exact
    text, so the export re-hashes as the database does: a forged hash over it holds."""
    row = stored.log.read(RUN)[4]
    text = '{ "attempt": 1 }'
    digest = ChainHasher(RUN).hash(row.prev_hash, 5, row.task_key, row.type, text, row.ts)
    execute(stored.database, "UPDATE events SET payload = :p, hash = :h WHERE run_id = :run AND seq = 5",
            p=text, h=digest, run=RUN)  # fmt: skip
    lines = read_lines(export_of(stored, tmp_path / "x.jsonl"))
    assert lines[5]["payload_text"] == text and "payload" not in lines[5]
    assert verify_run(stored, RUN).first_bad_seq == 6  # the next row still links to the old hash
    bad_at(verify_export(tmp_path / "x.jsonl").chain, 6)


def test_an_export_streams_to_a_binary_file(stored: Storage, tmp_path: Path) -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    buffer = io.BytesIO()
    export_run(stored.database, RUN, buffer, exported_by="tests", key=KEY, now=now)
    export_run(stored.database, RUN, tmp_path / "x.jsonl", exported_by="tests", key=KEY, now=now)
    assert buffer.getvalue() == (tmp_path / "x.jsonl").read_bytes()
    assert verify_export(io.BytesIO(buffer.getvalue()), key=KEY).ok


def test_an_unknown_run_writes_no_file(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(RunNotFound):
        export_run(storage.database, "nope", tmp_path / "x.jsonl", exported_by="tests")
    assert list(tmp_path.glob("x.jsonl*")) == []


def test_an_empty_key_is_refused(stored: Storage, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="key is empty"):
        export_of(stored, tmp_path / "x.jsonl", b"")


def test_a_kept_checkpoint_of_another_run_is_refused(stored: Storage, tmp_path: Path) -> None:
    path = export_of(stored, tmp_path / "x.jsonl")
    with pytest.raises(InvalidCheckpoint, match="of run other"):
        verify_export(path, checkpoint=Checkpoint(1, "a" * 64, "other"))


def test_an_export_that_does_not_verify_is_no_checkpoint(stored: Storage, tmp_path: Path) -> None:
    lines = read_lines(export_of(stored, tmp_path / "x.jsonl"))
    _edit_payload(lines)
    with pytest.raises(InvalidCheckpoint, match="first bad seq 5"):
        checkpoint_of_export(write_lines(tmp_path / "bad.jsonl", lines))
