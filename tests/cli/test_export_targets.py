"""``export -o`` replaces only a regular file (or creates a new one); a symlink, a FIFO or a
device is written through, and a failed write is reported (exit 1, one line)."""

import os
import threading
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow

from .conftest import Invoke


@pytest.fixture
def run_id(database_url: str, flows_file: Path, tmp_path: Path) -> str:
    with lf.Engine(database_url, home=tmp_path) as engine:
        return engine.run(load_flow(f"{flows_file}:wide"), n=2).id


def is_export(data: bytes, run_id: str) -> bool:
    lines = data.splitlines()
    is_header = lines[0].startswith(b'{"kind":"header"') and run_id.encode() in lines[0]
    return is_header and b"checkpoint" in lines[-1]


def test_a_regular_file_is_replaced_whole(cli: Invoke, run_id: str, tmp_path: Path) -> None:
    target = tmp_path / "run.jsonl"
    target.write_text("old content\n")
    result = cli("export", run_id, "-o", str(target))
    assert result.exit_code == 0, result.output
    assert is_export(target.read_bytes(), run_id)
    assert sorted(path.name for path in tmp_path.glob("run.jsonl*")) == ["run.jsonl"]
    assert cli("verify", "--file", str(target)).exit_code == 0


def test_a_symlink_stays_a_symlink_and_its_target_gets_the_export(
    cli: Invoke, run_id: str, tmp_path: Path
) -> None:
    target, link = tmp_path / "real.jsonl", tmp_path / "link.jsonl"
    target.write_text("old content\n")
    link.symlink_to(target)
    result = cli("export", run_id, "-o", str(link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.readlink() == target
    assert is_export(target.read_bytes(), run_id)
    assert not (tmp_path / "link.jsonl.partial").exists()


def test_an_unknown_run_leaves_a_symlinks_target_alone(cli: Invoke, run_id: str, tmp_path: Path) -> None:
    target, link = tmp_path / "real.jsonl", tmp_path / "link.jsonl"
    target.write_text("keep me\n")
    link.symlink_to(target)
    assert cli("export", "no-such-run", "-o", str(link)).exit_code == 2
    assert target.read_text() == "keep me\n" and link.is_symlink()


def test_a_fifos_reader_gets_the_export(cli: Invoke, run_id: str, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = cli("export", run_id, "-o", str(fifo))
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert not reader.is_alive() and is_export(received[0], run_id)
    assert fifo.is_fifo()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_failed_write_is_one_line_and_exit_1(cli: Invoke, run_id: str) -> None:
    result = cli("export", run_id, "-o", "/dev/full")
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["error: writing the export to /dev/full failed: No space left on device"]
    assert Path("/dev/full").is_char_device()
