"""The image deploy/build-image.sh builds: tagged latest and with the version, ledgerflow as
its entrypoint and a non-root user, Dask's scheduler and worker beside it, and a flow file
mounted from outside running in it against the host's PostgreSQL."""

import os
from pathlib import Path
from textwrap import dedent

import pytest

import ledgerflow as lf

from ..conftest import postgres_database
from .conftest import podman

pytestmark = pytest.mark.slow

FLOW = dedent(
    """
    import ledgerflow as lf


    @lf.task(retries=1, retry_delay=0.1)
    def square(x: int) -> int:
        if lf.context().attempt == 1 and x == 2:
            raise ConnectionError("first attempt fails")
        return x * x


    @lf.task
    def total(values: list[int]) -> int:
        return sum(values)


    @lf.flow
    def squares(n: int = 3):
        return total(square.map(range(n)))
    """
)


def test_the_image_has_both_tags_and_prints_the_version(ledgerflow_image: str) -> None:
    assert ledgerflow_image == f"localhost/ledgerflow:{lf.__version__}"
    for tag in (ledgerflow_image, "localhost/ledgerflow:latest"):
        done = podman("run", "--rm", "--network", "host", tag, "--version")
        assert done.stdout == f"ledgerflow {lf.__version__}\n"


def test_the_image_runs_as_a_user_with_dask_and_opentelemetry_in_one_venv(ledgerflow_image: str) -> None:
    who = podman("run", "--rm", "--entrypoint", "id", ledgerflow_image, "-u").stdout.strip()
    assert who == "10001"
    versions = podman(
        "run", "--rm", "--entrypoint", "python3", ledgerflow_image, "-c",
        "import dask, distributed, shutil, opentelemetry.trace;"
        "print(dask.__version__, distributed.__version__, shutil.which('dask'))",
    ).stdout.split()  # fmt: skip
    assert versions[0] == versions[1] and versions[2] == "/opt/ledgerflow/bin/dask"
    for command in ("scheduler", "worker"):
        done = podman("run", "--rm", "--entrypoint", "dask", ledgerflow_image, command, "--version")
        assert versions[0] in done.stdout


def test_a_mounted_flow_file_runs_against_the_host_postgres(ledgerflow_image: str, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "squares.py").write_text(FLOW)
    os.chmod(flows, 0o755)  # the image's user (10001) reads it
    (flows / "squares.py").chmod(0o644)
    with postgres_database(tmp_path) as url:
        done = podman(
            "run", "--rm", "--network", "host", "-v", f"{flows}:/flows:ro",
            "-e", f"LEDGERFLOW_DATABASE_URL={url}",
            ledgerflow_image, "run", "/flows/squares.py:squares", "-p", "n=4",
        )  # fmt: skip
        with lf.Engine(url) as engine:
            (summary,) = engine.runs()
            run = engine.get_run(summary.id)
            assert run.state == "SUCCEEDED"
            assert run.result() == 0 + 1 + 4 + 9
            assert run.tasks["square[2]"].attempts == 2
            assert summary.id in done.stdout
