"""deploy/compose.yaml brought up with podman-compose: every service's declared health check
passes, the example flow submitted to the stack runs on its Dask cluster to SUCCEEDED with
its results in the shared volume, the web UI answers (and wants its token), and the stack
comes down with its volumes.

podman-compose here is Debian's 1.0.3 with podman 4.3: it starts the services in
dependency order but does not wait on `condition:`s, and podman runs no health-check timers
without systemd. So the test runs each service's declared health check itself
(`podman exec`) until it passes, and waits for the `migrate` service to exit 0; the
ledgerflow services wait for PostgreSQL themselves (LEDGERFLOW_DB_RETRY_SECONDS)."""

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from .conftest import DEPLOY, podman, podman_env

pytestmark = pytest.mark.slow

COMPOSE_FILE = DEPLOY / "compose.yaml"
HEALTHY_WITHIN_S = 240.0
RUN_WITHIN_S = 300.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class Stack:
    """A compose project of deploy/compose.yaml, its variables, and its containers' names."""

    def __init__(self, ledgerflow_image: str, postgres_image: str) -> None:
        self.project = f"lfsmoke{secrets.token_hex(3)}"
        self.token = secrets.token_hex(16)
        self.ui_port = _free_port()
        self.variables = {
            "LEDGERFLOW_IMAGE": ledgerflow_image,
            "POSTGRES_IMAGE": postgres_image,
            "POSTGRES_PORT": str(_free_port()),  # this machine's own PostgreSQL holds 5432
            "UI_PORT": str(self.ui_port),
            "LEDGERFLOW_RESULT_KEY": secrets.token_hex(32),
            "LEDGERFLOW_UI_TOKEN": self.token,
        }
        self.services: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        tool = shutil.which("podman-compose")
        assert tool, "podman-compose is needed: apt-get install podman-compose (scripts/test does)"
        done = subprocess.run(
            [tool, "-p", self.project, "-f", str(COMPOSE_FILE), *args],
            env={**podman_env(), **self.variables},
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (
            f"podman-compose {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        return done

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def logs(self) -> str:
        return "\n".join(
            f"--- {service}\n{done.stdout}{done.stderr}"
            for service in self.services
            for done in [podman("logs", "--tail", "30", self.container(service), check=False)]
        )


@pytest.fixture
def stack(ledgerflow_image: str, postgres_image: str) -> Iterator[Stack]:
    """The stack, up; down with its volumes after the test (also when it fails)."""
    up = Stack(ledgerflow_image, postgres_image)
    try:
        up.compose("up", "-d")
        yield up
    finally:
        up.compose("down", "-v", timeout=600)
        left = podman("ps", "-a", "-q", "--filter", f"label=io.podman.compose.project={up.project}").stdout
        assert left.strip() == "", "containers left after compose down"


def _wait_healthy(stack: Stack) -> None:
    pending = {
        name: spec["healthcheck"]["test"] for name, spec in stack.services.items() if "healthcheck" in spec
    }
    assert set(pending) == set(stack.services) - {"migrate"}  # every long-running service has one
    assert podman("wait", stack.container("migrate"), timeout=HEALTHY_WITHIN_S).stdout.strip() == "0"
    deadline = time.monotonic() + HEALTHY_WITHIN_S
    while pending and time.monotonic() < deadline:
        for name, test in list(pending.items()):
            assert test[0] == "CMD", f"{name}: write health checks as [CMD, ...]"
            if podman("exec", stack.container(name), *test[1:], check=False, timeout=60).returncode == 0:
                del pending[name]
        if pending:
            time.sleep(2)  # health checks are polled: nothing announces a healthy service
    assert not pending, f"not healthy within {HEALTHY_WITHIN_S:g}s: {sorted(pending)}\n{stack.logs()}"


def test_the_stack_runs_the_example_flow_and_serves_the_ui(stack: Stack) -> None:
    _wait_healthy(stack)
    submitted = podman(
        "exec", stack.container("ledgerflow-worker"), "ledgerflow", "submit",
        "ledgerflow.examples.experiments:experiments", "-p", "folds=2", "-p", "models=logreg",
    )  # fmt: skip
    run_id = submitted.stdout.strip()
    ui = f"http://127.0.0.1:{stack.ui_port}"
    with httpx.Client(base_url=ui, headers={"Authorization": f"Bearer {stack.token}"}, timeout=30) as client:
        deadline = time.monotonic() + RUN_WITHIN_S
        state = "SCHEDULED"
        while state not in ("SUCCEEDED", "FAILED", "CANCELLED", "CRASHED") and time.monotonic() < deadline:
            time.sleep(1)  # a run's end is polled through the UI's API, as a user would
            state = client.get(f"/api/runs/{run_id}").raise_for_status().json()["state"]
        assert state == "SUCCEEDED", stack.logs()
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["task_count"] == 10  # assign_folds, 4 models x 2 folds, pick_best
        assert run["counts"] == {"SUCCEEDED": 10}
        page = client.get(f"/runs/{run_id}")
        assert page.status_code == 200 and run_id in page.text
    assert httpx.get(f"{ui}/api/runs/{run_id}", timeout=30).status_code == 401  # no token
    # The Dask workers wrote the results the event log references to the shared volume.
    stored = podman("exec", stack.container("dask-worker"), "find", f"/results/{run_id}", "-type", "f").stdout
    assert f"/results/{run_id}/assign_folds/" in stored
    worker_log = podman("logs", stack.container("ledgerflow-worker")).stderr
    assert f"drove submitted run {run_id} (flow experiments): SUCCEEDED" in worker_log
