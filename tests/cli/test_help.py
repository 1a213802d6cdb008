"""Every command's ``--help``: flags show no ``<bool>`` type, and each paragraph of a
command's help (hard-wrapped in its docstring) reads as one flowing paragraph."""

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from ledgerflow.cli import app
from ledgerflow.cli.help_text import unwrap


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from command_paths(sub, (*path, name))


COMMANDS = list(command_paths(typer.main.get_command(app)))


NAMES = [" ".join(path) or "ledgerflow" for path, _ in COMMANDS]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=NAMES)
def test_help_flows_and_shows_no_bool_type(
    path: tuple[str, ...], command: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # wide enough that no paragraph needs wrapping
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout
    lines = result.stdout.splitlines()
    for paragraph in unwrap(command.help or "").split("\n\n"):
        assert any(paragraph in line for line in lines), f"{paragraph!r} is not one line of:\n{result.stdout}"


def test_a_subcommand_listing_flows_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    lines = CliRunner().invoke(app, ["--help"]).stdout.splitlines()
    wanted = "then those submitted with `ledgerflow submit` (higher priority first), up to --max-runs at once"
    assert any(wanted in line for line in lines)
    verbose = next(line for line in lines if "--verbose" in line)
    assert "<int>" not in verbose  # a counted flag takes no value


def test_unwrap_keeps_paragraphs() -> None:
    text = "One line\n    and the next.\n\n    Second\n    paragraph."
    assert unwrap(text) == "One line and the next.\n\nSecond paragraph."
