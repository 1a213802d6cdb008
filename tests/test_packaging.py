"""A built wheel holds the package mapped from the repository root, and nothing else."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_the_package_and_imports(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("ledgerflow-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "ledgerflow/__init__.py",
        "ledgerflow/engine/core/fold.py",
        "ledgerflow/engine/core/machine.py",
        "ledgerflow/engine/runtime/loop.py",
        "ledgerflow/storage/memory/log.py",
        "ledgerflow/storage/migrations/env.py",
        "ledgerflow/storage/migrations/script.py.mako",
        "ledgerflow/storage/migrations/versions/0001_initial.py",
        "ledgerflow/executors/dask_executor.py",
        "ledgerflow/replay/verify.py",
        "ledgerflow/results/objects.py",
        "ledgerflow/cli/__init__.py",
        "ledgerflow/examples/experiments.py",
        "ledgerflow/ui/app.py",
        "ledgerflow/storage/migrations/versions/0009_notify_appends.py",
        "ledgerflow/ui/templates/_run.html",
        "ledgerflow/ui/static/app.js",
    ):
        assert expected in names
    assert not any(name.startswith(("ledgerflow/tests/", "tests/", "benchmarks/")) for name in names)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = (
        "import ledgerflow, ledgerflow.engine, ledgerflow.engine.runtime, ledgerflow.storage.migrate\n"
        "from ledgerflow.ui.pages import TEMPLATES\n"
        "TEMPLATES.get_template('run.html')  # the pages' templates came with the wheel\n"
        "print(ledgerflow.__file__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )
    assert done.stdout.strip().startswith(str(target))


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    skipped = {"tests", "benchmarks", "build", "dist"}
    folders = {
        ".".join(("ledgerflow", *init.parent.relative_to(ROOT).parts))
        for init in ROOT.rglob("__init__.py")
        if not skipped & set(init.relative_to(ROOT).parts) and not init.parent.name.startswith(".")
    }
    assert folders <= listed, f"missing from pyproject's packages: {sorted(folders - listed)}"
