"""Fixtures of the deployment tests: podman with this project's sandbox settings, and the
images deploy/build-image.sh builds (once per session)."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SANDBOX_CONF = DEPLOY / "podman-sandbox.conf"
BUILD_TIMEOUT_S = 900


def podman_env() -> dict[str, str]:
    """The environment podman runs in here: crun, cgroups and rlimits are refused by this
    sandbox, so runc and cgroupfs, without default ulimits (deploy/podman-sandbox.conf)."""
    return {**os.environ, "CONTAINERS_CONF": str(SANDBOX_CONF)}


def podman(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``podman ARGS`` and return what it printed; fail the test with its output unless it
    succeeded (when ``check``)."""
    binary = shutil.which("podman")
    assert binary, "podman is needed by the deployment tests: apt-get install podman runc (scripts/test does)"
    done = subprocess.run(
        [binary, *args], env=podman_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check:
        assert done.returncode == 0, (
            f"podman {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return done


def build(what: str) -> str:
    """Build an image with deploy/build-image.sh (the Debian base is made once and kept);
    returns the tag it printed. The image it replaces is removed, so runs do not pile up
    untagged images."""
    latest = f"localhost/{'ledgerflow' if what == 'ledgerflow' else 'ledgerflow-' + what}:latest"
    before = podman("image", "inspect", "--format", "{{.Id}}", latest, check=False).stdout.strip()
    done = subprocess.run(
        [str(DEPLOY / "build-image.sh"), what],
        env={**podman_env(), "PYTHON": sys.executable},
        capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"build-image.sh {what} failed:\n{done.stderr[-5000:]}"
    after = podman("image", "inspect", "--format", "{{.Id}}", latest).stdout.strip()
    if before and before != after:
        podman("rmi", before, check=False)  # refused while a container uses it: then it stays
    return done.stdout.strip()


@pytest.fixture(scope="session")
def ledgerflow_image() -> Iterator[str]:
    """``localhost/ledgerflow:VERSION``, built from this work tree."""
    yield build("ledgerflow")


@pytest.fixture(scope="session")
def postgres_image() -> Iterator[str]:
    """``localhost/ledgerflow-postgres:latest``: Debian's PostgreSQL, for compose here."""
    yield build("postgres")
