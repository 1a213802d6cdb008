"""Every Python and shell block of the README runs as pasted: in order, in one temporary
folder, with a temporary LEDGERFLOW_HOME. A block starting with ``# NAME.py`` is saved as
that file and run as ``python NAME.py``; a block right after a
``<!-- readme-test: skip: REASON -->`` line is not run (and must give its reason)."""

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
SKIP = re.compile(r"<!-- readme-test: skip: (?P<reason>\S.*?) -->\n\Z")
FILE_NAME = re.compile(r"\A# (?P<name>[\w-]+\.py)\n")
RUNNABLE = {"python", "bash"}


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int  # where the block starts in the README
    skip_reason: str | None


def blocks(text: str) -> list[Block]:
    """The fenced blocks of ``text`` whose language is Python or shell."""
    found = []
    for match in FENCE.finditer(text):
        language, code = match.group(1), match.group(2)
        if language not in RUNNABLE:
            continue
        skip = SKIP.search(text, 0, match.start())
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(language, code, line, skip.group("reason") if skip else None))
    return found


def test_the_readme_marks_its_blocks() -> None:
    text = README.read_text()
    found = blocks(text)
    languages = {match.group(1) for match in FENCE.finditer(text)}
    assert languages <= RUNNABLE | {""}, "a block in a language the README test cannot run"
    assert sum(block.skip_reason is None for block in found) >= 6
    markers = re.findall(r"^<!-- readme-test:", text, re.MULTILINE)
    assert len(markers) == sum(block.skip_reason is not None for block in found)  # each before a block


def _environment(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEDGERFLOW_")}
    env["LEDGERFLOW_HOME"] = str(home)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.slow
def test_every_readme_block_runs_as_pasted(tmp_path: Path) -> None:
    env = _environment(tmp_path / "home")
    outputs: dict[str, str] = {}
    for number, block in enumerate(blocks(README.read_text())):
        if block.skip_reason is not None:
            continue
        named = FILE_NAME.match(block.code)
        script = tmp_path / (named.group("name") if named else f"readme_block_{number}.py")
        if block.language == "python":
            script.write_text(block.code)
            command = [sys.executable, script.name]
        else:
            command = ["bash", "-euo", "pipefail", "-c", block.code]
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False
        )
        assert done.returncode == 0, (
            f"README block at line {block.line} failed ({done.returncode}):\n{block.code}\n"
            f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
        )
        assert "FlowImportStartedRun" not in done.stderr, f"README block at line {block.line}"
        outputs[script.name if block.language == "python" else f"line {block.line}"] = done.stdout
    assert "SUCCEEDED {'Hello, Ada!': 8, 'Hello, Grace!': 10}" in outputs["hello.py"]
    assert "SUCCEEDED {'best': 14.0}" in outputs["pipeline.py"]
    assert len(outputs) >= 6


def test_ci_runs_exactly_the_readme_test_command() -> None:
    root = README.parent
    [command] = {
        line.split("#")[0].strip()
        for block in blocks(README.read_text())
        for line in block.code.splitlines()
        if line.startswith("./scripts/test ") and "everything" in line
    }
    ci_lines = [line for line in (root / ".ci" / "run").read_text().splitlines() if line and line[0] != "#"]
    assert ci_lines[-1] == command == "./scripts/test"
    script = root / "scripts" / "test"
    assert os.access(script, os.X_OK)
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    assert script.read_text().rstrip().endswith('exec python -m pytest "$@"')
