"""Fixtures of the crash tests: the child scripts in tmp_path, and children killed at teardown."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .processes import Child, Spawn
from .scripts import write_scripts


@pytest.fixture
def crash_dir(tmp_path: Path) -> Path:
    """tmp_path with chain.py, main_chain.py and the child scripts in it."""
    write_scripts(tmp_path)
    return tmp_path


@pytest.fixture
def spawn(crash_dir: Path) -> Iterator[Spawn]:
    """Start a child in ``crash_dir`` (extra environment as keywords); all are killed after the test."""
    children: list[Child] = []

    def start(*args: str, name: str, **env: str) -> Child:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERFLOW_", "CRASH_"))}
        environment["PYTHONFAULTHANDLER"] = "1"  # a child that crashes by itself shows where
        environment.update(env)
        child = Child(args, crash_dir, environment, name)
        children.append(child)
        return child

    yield start
    for child in children:
        child.close()
