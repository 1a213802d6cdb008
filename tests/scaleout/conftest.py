"""A real Dask cluster (a ``dask scheduler`` and two ``dask worker`` processes, one offering
MEMORY=100) and two ``ledgerflow worker`` processes on one fresh PostgreSQL database, all
on loopback, started once per module and torn down whatever happens."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import distributed
import pytest

import ledgerflow as lf
from ledgerflow.storage import WorkerRegistry

from ..conftest import postgres_database

REPO = Path(__file__).resolve().parents[2]  # holds the ``tests`` package the flows live in
SCRIPT = Path(sys.executable).with_name("ledgerflow")
DEADLINE = 90.0  # seconds any awaited condition may take before the test fails
POLL = 0.2  # the ledgerflow workers' poll interval
LEASE_TTL = 3.0


def wait_until(condition: Callable[[], bool], what: str, seconds: float = DEADLINE) -> None:
    """Poll ``condition`` every 50 ms until it holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting until {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Process:
    """A child in its own session (so its children go with it), output to a log file."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signum)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the whole group, then SIGKILL what is left of it after ``grace`` seconds."""
        for signum in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(grace)
            grace = 5.0


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERFLOW_", "DASK_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


@dataclass
class Cluster:
    address: str
    client: distributed.Client

    def memory_workers(self) -> set[str]:
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        return {address for address, info in workers.items() if (info.get("resources") or {}).get("MEMORY")}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """``dask scheduler`` + two ``dask worker``s (nannies restart a killed worker on its port)."""
    logs = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    # Dask's own allowed-failures (3): ledgerflow's attempt guard, which its executor registers on
    # this scheduler, is what makes a worker's death under a started task KilledWorker at once.
    env = child_env()
    processes = [
        Process(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", str(port), "--no-dashboard"],
            logs / "scheduler.log", env,
        )
    ]
    try:
        for name, resources in (("plain", []), ("memory", ["--resources", "MEMORY=100"])):
            processes.append(Process(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
                 "--worker-port", str(free_port()), "--nanny-port", str(free_port()), "--nthreads", "2",
                 "--name", name, "--no-dashboard", *resources],
                logs / f"worker-{name}.log", env,
            ))
        client = distributed.Client(address, timeout=30)
        try:
            client.wait_for_workers(2, timeout=60)
            yield Cluster(address, client)
        finally:
            client.close()
    finally:
        for process in reversed(processes):
            process.stop()


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh PostgreSQL database for the module (dropped after)."""
    with postgres_database(tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LEDGERFLOW_HOME shared by the test and the workers (the result-signing key lives here)."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def engine(database: str, home: Path) -> Iterator[lf.Engine]:
    """The test's engine on the shared database: it submits runs and reads them back."""
    with lf.Engine(database, home=home) as opened:
        yield opened


@dataclass
class LedgerflowWorkers:
    processes: list[Process]
    start: Callable[[], Process]


@pytest.fixture(scope="module")
def lf_workers(
    cluster: Cluster, database: str, home: Path, engine: lf.Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LedgerflowWorkers]:
    """Two ``ledgerflow worker --dask-address ...`` processes polling the shared database."""
    logs = tmp_path_factory.mktemp("lf-workers")
    processes: list[Process] = []

    def start() -> Process:
        args = [
            str(SCRIPT), "-v", "worker", "--dask-address", cluster.address, "--poll", str(POLL),
            "--max-runs", "2", "--lease-ttl", str(LEASE_TTL), "--resource-timeout", "5",
            "--database", database,
        ]
        process = Process(args, logs / f"worker-{len(processes)}.log", child_env(LEDGERFLOW_HOME=str(home)))
        processes.append(process)
        return process

    try:
        start(), start()
        wait_until(
            lambda: {w.pid for w in registry(engine).workers() if w.state == "running"}
            >= {p.pid for p in processes},
            "both ledgerflow workers registered",
        )
        yield LedgerflowWorkers(processes, start)
    finally:
        for process in processes:
            process.stop()


def registry(engine: lf.Engine) -> WorkerRegistry:
    return WorkerRegistry(engine.storage.database)
