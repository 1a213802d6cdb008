"""``export``, ``verify`` (a run, ``--all``, ``--file``, ``--checkpoint``) and ``db harden``,
in-process, on SQLite and PostgreSQL."""

import re
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import orjson
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from ledgerflow.cli import app
from ledgerflow.storage import SqlEventLog, create_db_engine
from ledgerflow.storage.codec import ChainHasher, canonical_payload

from .conftest import Invoke
from .test_commands import run_id_of

KEY = "the auditor's key"


@pytest.fixture
def tamper(database_url: str, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on the test database, to edit rows behind ledgerflow's back."""
    engine = create_db_engine(database_url, tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture
def run_id(cli: Invoke, flows_file: Path) -> str:
    """A finished run of 2 mapped tasks and a total (seq 1..9)."""
    return run_id_of(cli("run", f"{flows_file}:wide", "-p", "n=2").stdout)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "export.key"
    path.write_text(KEY + "\n")
    return path


def edit(engine: sa.Engine, sql: str, **params: object) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text(sql), params)


def checkpoint_in(message: str) -> str:
    found = re.search(r"checkpoint (\d+:[0-9a-f]{64})", message)
    assert found, message
    return found.group(1)


def test_export_to_a_file_verifies_offline_with_its_signature(
    cli: Invoke, run_id: str, tmp_path: Path, key_file: Path
) -> None:
    out = tmp_path / "run.jsonl"
    exported = cli("export", run_id, "-o", str(out), "--key-file", str(key_file))
    assert exported.exit_code == 0, exported.output
    assert f"exported run {run_id} to {out}: 9 events, signed (HMAC-SHA256); checkpoint 9:" in exported.stdout
    verified = cli("verify", "--file", str(out), "--key-file", str(key_file))
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.startswith(f"OK: export {out} of run {run_id}: 9 events verified")
    assert f"it ends at its checkpoint {checkpoint_in(exported.stdout)}" in verified.stdout
    assert "signature valid" in verified.stdout
    unchecked = cli("verify", "--file", str(out))
    assert unchecked.exit_code == 0 and "signature not checked" in unchecked.stdout
    key_file.write_text("another key")
    wrong = cli("verify", "--file", str(out), "--key-file", str(key_file))
    assert wrong.exit_code == 1
    assert wrong.stdout.startswith(f"FAILED: export {out} of run {run_id}: signature INVALID")


def test_export_to_stdout_and_the_key_from_the_environment(
    cli: Invoke, run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERFLOW_EXPORT_KEY", KEY)
    exported = cli("export", run_id)
    assert exported.exit_code == 0, exported.output
    lines = [orjson.loads(line) for line in exported.stdout.splitlines()]
    assert [line["kind"] for line in lines] == ["header"] + ["event"] * 9 + ["checkpoint", "signature"]
    assert "signed (HMAC-SHA256)" in exported.stderr
    out = tmp_path / "run.jsonl"
    out.write_text(exported.stdout)
    assert "signature valid" in cli("verify", "--file", str(out)).stdout
    monkeypatch.delenv("LEDGERFLOW_EXPORT_KEY")
    unsigned = tmp_path / "unsigned.jsonl"
    assert cli("export", run_id, "-o", str(unsigned)).exit_code == 0
    monkeypatch.setenv("LEDGERFLOW_EXPORT_KEY", KEY)
    missing = cli("verify", "--file", str(unsigned))
    assert missing.exit_code == 1 and "signature MISSING" in missing.stdout


def test_verify_file_needs_no_database(cli: Invoke, run_id: str, tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    cli("export", run_id, "-o", str(out))
    unreachable = "postgresql://nobody@127.0.0.1:9/nowhere"
    result = CliRunner().invoke(app, ["verify", "--file", str(out), "--database", unreachable])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: export")


def test_a_tampered_export_names_the_seq(cli: Invoke, run_id: str, tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    cli("export", run_id, "-o", str(out))
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:4] + lines[5:]))  # event seq 4 deleted
    result = cli("verify", "--file", str(out))
    assert result.exit_code == 1
    assert result.stdout.startswith(f"FAILED: export {out} of run {run_id}: first bad seq 4: seq 4 is")


def test_verify_all_summarises_and_lists_failures(
    cli: Invoke, flows_file: Path, run_id: str, tamper: sa.Engine
) -> None:
    other = run_id_of(cli("run", f"{flows_file}:wide", "-p", "n=1").stdout)
    result = cli("verify", "--all")
    assert result.exit_code == 0, result.output
    assert result.stdout == "OK: verified 2 runs: 2 ok, 0 failed\n"
    edit(tamper, "UPDATE events SET task_key = 'x' WHERE run_id = :run AND seq = 5", run=other)
    failed = cli("verify", "--all")
    assert failed.exit_code == 1
    assert failed.stdout.splitlines() == [
        f"FAILED: run {other}: first bad seq 5: the hash does not match the stored fields "
        "(edited row) (4 events verified before it)",
        "FAILED: verified 2 runs: 1 ok, 1 failed",
    ]


def test_a_kept_checkpoint_finds_a_truncated_run(
    cli: Invoke, run_id: str, tamper: sa.Engine
) -> None:
    kept = checkpoint_in(cli("export", run_id).stderr)
    assert cli("verify", run_id, "--checkpoint", kept).stdout.startswith(
        f"OK: run {run_id}: 9 events verified, the chain holds; checkpoint seq 9 matches"
    )
    seventh = SqlEventLog(tamper).read(run_id)[6]
    edit(tamper, "DELETE FROM events WHERE run_id = :run AND seq > 7", run=run_id)
    edit(tamper, "UPDATE runs SET head_seq = 7, head_hash = :h WHERE run_id = :run", h=seventh.hash,
         run=run_id)  # fmt: skip
    assert cli("verify", run_id).exit_code == 0  # the tail and the head went together
    result = cli("verify", run_id, "--checkpoint", kept)
    assert result.exit_code == 1
    assert "first bad seq 8: seqs 8..9 are missing: the checkpoint records seq 9" in result.stdout


def test_an_export_as_checkpoint_finds_where_a_rewrite_starts(
    cli: Invoke, run_id: str, tmp_path: Path, tamper: sa.Engine
) -> None:
    out = tmp_path / "run.jsonl"
    kept = checkpoint_in(cli("export", run_id, "-o", str(out)).stdout)
    rows, hasher = SqlEventLog(tamper).read(run_id), ChainHasher(run_id)
    prev = rows[2].hash
    for row in rows[3:]:  # seq 4 edited; it, every later row and the head re-chained
        payload = '{"attempt":5}' if row.seq == 4 else canonical_payload(row.payload).decode()
        digest = hasher.hash(prev, row.seq, row.task_key, row.type, payload, row.ts)
        edit(tamper, "UPDATE events SET payload = :p, prev_hash = :prev, hash = :h "
             "WHERE run_id = :run AND seq = :seq", p=payload, prev=prev, h=digest, run=run_id,
             seq=row.seq)  # fmt: skip
        prev = digest
    edit(tamper, "UPDATE runs SET head_hash = :h WHERE run_id = :run", h=prev, run=run_id)
    assert cli("verify", run_id).exit_code == 0  # self-consistent
    by_file = cli("verify", run_id, "--checkpoint", str(out))
    assert by_file.exit_code == 1
    assert "first bad seq 4: the hash differs from the checkpoint's: the chain was rewritten from seq 4" in (
        by_file.stdout
    )
    by_head = cli("verify", run_id, "--checkpoint", kept)
    assert by_head.exit_code == 1 and "first bad seq 9" in by_head.stdout
    assert "rewritten at or before seq 9" in by_head.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give one of: a run id, --all, or --file FILE"),
        (["RUN", "--all"], "give one of"),
        (["--all", "--file", "x.jsonl"], "give one of"),
        (["RUN", "--key-file", "k"], "use it with --file"),
        (["--all", "--checkpoint", "3:" + "a" * 64], "--checkpoint applies to one run"),
        (["RUN", "--checkpoint", "three"], "--checkpoint three: checkpoint 'three' is not SEQ:HASH"),
        (["--file", "no-such-file.jsonl"], "--file no-such-file.jsonl: cannot read it"),
        (["--file", "x.jsonl", "--key-file", "no-such.key"], "--key-file no-such.key: cannot read it"),
        (["--all", "--results"], "--results re-hashes one run's stored results: give a run id"),
    ],
)
def test_verify_bad_usage_is_named(cli: Invoke, args: list[str], message: str) -> None:
    result = cli("verify", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_an_empty_key_file_is_bad_usage(cli: Invoke, run_id: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    result = cli("export", run_id, "--key-file", str(empty))
    assert result.exit_code == 2 and "is empty" in result.stderr


def test_export_errors_are_named(cli: Invoke, run_id: str, tmp_path: Path, flows_file: Path) -> None:
    unknown = cli("export", "20000101-000000-deadbeef")
    assert unknown.exit_code == 2 and "no run with id '20000101-000000-deadbeef'" in unknown.stderr
    nowhere = cli("export", run_id, "-o", str(tmp_path / "missing-dir" / "run.jsonl"))
    assert nowhere.exit_code == 2 and "cannot write the export to" in nowhere.stderr
    other = run_id_of(cli("run", f"{flows_file}:wide", "-p", "n=1").stdout)
    cli("export", other, "-o", str(tmp_path / "other.jsonl"))
    checkpoint_of_another = cli("verify", run_id, "--checkpoint", str(tmp_path / "other.jsonl"))
    assert checkpoint_of_another.exit_code == 2
    assert f"not of run {run_id}" in checkpoint_of_another.stderr


def test_db_harden_on_each_database(cli: Invoke, database_url: str, run_id: str) -> None:
    result = cli("db", "harden")
    if sa.make_url(database_url).get_backend_name() == "sqlite":
        assert result.exit_code == 2
        assert "`db harden` needs PostgreSQL, not sqlite" in result.stderr
        return
    assert result.exit_code == 0, result.output
    assert "is now append-only (UPDATE, DELETE, TRUNCATE refused)" in result.stdout
    again = cli("db", "harden")
    assert again.exit_code == 0 and "is already append-only" in again.stdout
    assert cli("verify", "--all").exit_code == 0


@pytest.mark.parametrize("command", [["export"], ["verify"], ["db", "harden"]])
def test_the_audit_commands_document_their_options(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "--database" in result.stdout and "LEDGERFLOW_DATABASE_URL" in result.stdout
    if command != ["db", "harden"]:
        assert "--key-file" in result.stdout and "LEDGERFLOW_EXPORT_KEY" in result.stdout


BIG_RESULTS = dedent(
    """
    import ledgerflow as lf


    @lf.task
    def rows(n: int) -> list[int]:
        return list(range(n))  # more than 1 KiB of JSON: stored, referenced by its event


    @lf.task
    def total(values: list[int]) -> int:
        return sum(values)


    @lf.flow
    def big(n: int = 500):
        return total(rows(n))
    """
)


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("UPDATE results SET data = :data WHERE ref = :ref", "its sha256 differs from the recorded one"),
        ("DELETE FROM results WHERE ref = :ref", "nothing is stored under"),
    ],
    ids=["edited", "deleted"],
)
def test_verify_results_names_an_altered_or_missing_result(
    cli: Invoke, tamper: sa.Engine, tmp_path: Path, sql: str, reason: str
) -> None:
    flows = tmp_path / "big_flows.py"
    flows.write_text(BIG_RESULTS)
    run_id = run_id_of(cli("run", f"{flows}:big").stdout)
    clean = cli("verify", run_id, "--results")
    assert clean.exit_code == 0, clean.output
    assert f"OK: run {run_id}: 1 stored result match their recorded size and sha256" in clean.stdout
    ref = f"{run_id}/rows/1"
    select = sa.text("SELECT data FROM results WHERE ref = :ref")
    with tamper.connect() as connection:
        data = bytes(connection.execute(select, {"ref": ref}).one()[0])
    edit(tamper, sql, ref=ref, data=data.replace(b"499", b"999"))
    assert cli("verify", run_id).exit_code == 0  # the chain holds
    found = cli("verify", run_id, "--results")
    assert found.exit_code == 1, found.output
    assert "the chain holds" in found.stdout
    assert f"FAILED: run {run_id}, task rows (seq " in found.stdout
    assert f"stored result '{ref}' in database: " in found.stdout
    assert reason in found.stdout and "expected sha256 " in found.stdout
    assert f"FAILED: run {run_id}: 1 of 1 stored result altered or missing" in found.stdout
