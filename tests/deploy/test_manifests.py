"""The Kubernetes manifests in deploy/k8s: every file and both renderings (the base, and the
example overlay, by kustomize) are valid against the Kubernetes API schemas (offline, the
schemas kubernetes-validate bundles; strict: an unknown field fails), and what the overlay
renders hangs together: selectors, references, probes, requests."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from ledgerflow.cli import app

pytestmark = pytest.mark.slow  # rendering, and loading the schemas of two releases, take seconds

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "example"
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
"""The oldest and newest releases checked: every object must be valid on both."""
NOT_OBJECTS = {"kustomization.yaml", "worker-sizing.yaml"}
"""Files that are no complete API object: kustomize's own file, and a patch (it is checked
inside the overlay it patches)."""


def render(folder: Path) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize folder`` renders."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed to render deploy/k8s: install it"
    done = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def schema_errors(objects: list[dict[str, Any]], where: str) -> list[str]:
    """What the API schemas of each checked Kubernetes release refuse in ``objects``."""
    errors = []
    for version in KUBERNETES_VERSIONS:
        for obj in objects:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                at = "/".join(str(part) for part in exc.path)
                errors.append(
                    f"{where}: {obj['kind']} {obj['metadata']['name']} ({version}): {exc.message} at {at}"
                )
    return errors


def object_files() -> list[Path]:
    files = sorted(path for path in K8S.rglob("*.yaml") if path.name not in NOT_OBJECTS)
    assert len(files) >= 10
    return files


@pytest.mark.parametrize("path", object_files(), ids=lambda path: str(path.relative_to(K8S)))
def test_every_manifest_file_is_valid(path: Path) -> None:
    objects = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert objects
    assert schema_errors(objects, str(path.relative_to(K8S))) == []


@pytest.mark.parametrize("folder", [BASE, OVERLAY], ids=["base", "overlay"])
def test_the_rendered_objects_are_valid(folder: Path) -> None:
    objects = render(folder)
    assert schema_errors(objects, folder.name) == []


def test_an_invalid_object_is_refused() -> None:
    deployment = next(obj for obj in render(BASE) if obj["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["probe"] = {}  # misspelt field
    del deployment["spec"]["selector"]
    errors = schema_errors([deployment], "edited")
    assert errors and all("selector" in error or "probe" in error for error in errors)


def _by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def _pod_specs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = ("Deployment", "Job")
    return {obj["metadata"]["name"]: obj["spec"]["template"] for obj in objects if obj["kind"] in kinds}


def test_the_overlay_renders_a_consistent_deployment() -> None:
    objects = render(OVERLAY)
    deployments = _by_kind(objects, "Deployment")
    assert set(deployments) == {
        "dask-scheduler", "dask-worker", "dask-worker-memory",
        "ledgerflow-worker", "ledgerflow-scheduler", "ledgerflow-ui",
    }  # fmt: skip
    assert set(_by_kind(objects, "Job")) == {"db-upgrade"}
    assert all(
        obj["metadata"].get("namespace") == "ledgerflow" for obj in objects if obj["kind"] != "Namespace"
    )
    assert deployments["ledgerflow-worker"]["spec"]["replicas"] == 3
    assert deployments["dask-worker"]["spec"]["replicas"] == 6
    (secret_name,) = _by_kind(objects, "Secret")
    config = _by_kind(objects, "ConfigMap")["ledgerflow-config"]["data"]
    assert config["LEDGERFLOW_RESULT_STORAGE"] == "s3://example-bucket/ledgerflow"
    claims = set(_by_kind(objects, "PersistentVolumeClaim"))
    for name, template in _pod_specs(objects).items():
        for container in template["spec"]["containers"]:
            assert container["image"] == "registry.example.com/ledgerflow:0.1.0", name
            assert container["resources"]["requests"], name
            refs = {ref.get("secretRef", {}).get("name") for ref in container.get("envFrom", [])}
            assert refs - {None} <= {secret_name}, name  # the generated Secret, by its hashed name
            if name != "db-upgrade":
                assert "readinessProbe" in container and "livenessProbe" in container, name
        for volume in template["spec"].get("volumes", []):
            assert volume["persistentVolumeClaim"]["claimName"] in claims, name
    worker_args = deployments["ledgerflow-worker"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert worker_args[:3] == ["worker", "--max-runs", "100"]
    job = _by_kind(objects, "Job")["db-upgrade"]["spec"]["template"]["spec"]["containers"][0]
    assert job["args"] == ["db", "upgrade"]


def test_selectors_match_the_pods_they_select() -> None:
    objects = render(OVERLAY)
    pod_labels = [template["metadata"]["labels"] for template in _pod_specs(objects).values()]
    for deployment in _by_kind(objects, "Deployment").values():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    selecting = [*_by_kind(objects, "Service").values(), *_by_kind(objects, "PodDisruptionBudget").values()]
    assert len(selecting) == 4
    for obj in selecting:
        selector = obj["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        matched = [labels for labels in pod_labels if selector.items() <= labels.items()]
        assert len(matched) == 1, obj["metadata"]["name"]


def test_probes_run_real_ledgerflow_commands() -> None:
    commands = set()
    for template in _pod_specs(render(OVERLAY)).values():
        for container in template["spec"]["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                command = container.get(probe, {}).get("exec", {}).get("command")
                if command:
                    commands.add(tuple(command))
    assert commands == {("ledgerflow", "health")}
    for command in commands:
        assert CliRunner().invoke(app, [*command[1:], "--help"]).exit_code == 0


def test_dask_workers_get_the_scheduler_address_from_the_config() -> None:
    objects = render(OVERLAY)
    config = _by_kind(objects, "ConfigMap")["ledgerflow-config"]["data"]
    scheduler = _by_kind(objects, "Service")["dask-scheduler"]
    assert config["LEDGERFLOW_DASK_ADDRESS"] == f"tcp://{scheduler['metadata']['name']}:8786"
    for name in ("dask-worker", "dask-worker-memory"):
        container = _by_kind(objects, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"][:2] == ["worker", "$(LEDGERFLOW_DASK_ADDRESS)"]  # from envFrom
    memory = _by_kind(objects, "Deployment")["dask-worker-memory"]["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert "--resources" in memory["args"] and memory["args"][
        memory["args"].index("--resources") + 1
    ].startswith("MEMORY=")
