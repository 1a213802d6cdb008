"""``ledgerflow gc --results``: lists the stored results no event refers to (a dry run), removes
them with ``--execute``, exits 0 either way; 1 when a store cannot be listed, 2 on bad usage."""

from pathlib import Path
from typing import Any

import pytest

from ledgerflow.results.objects import ObjectStore

from .conftest import Invoke
from .test_commands import run_id_of


def orphaned_run(cli: Invoke, flows_file: Path, store: str) -> tuple[str, set[str], str]:
    """A run whose results are in ``store``, and an object under its keys nothing refers to:
    (run id, the referenced keys, the orphan's key)."""
    ran = cli("run", f"{flows_file}:arithmetic", "-p", "n=1", "-p", "xs=[1,2]", "--result-storage", store)
    assert ran.exit_code == 0, ran.output
    run_id = run_id_of(ran.stdout)
    objects = ObjectStore(store)
    referenced = set(objects.keys())
    assert referenced and all(key.startswith(f"{run_id}/") for key in referenced)
    orphan = f"{run_id}/double[0]/9-0123456789abcdef"
    objects.put(orphan, b"bytes of an attempt whose driver died")
    return run_id, referenced, orphan


def test_gc_lists_then_removes_what_no_event_refers_to(
    cli: Invoke, flows_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERFLOW_INLINE_LIMIT", "0")  # every result to the store
    store = f"file://{tmp_path}/results"
    _, referenced, orphan = orphaned_run(cli, flows_file, store)
    young = cli("gc", "--results")
    assert young.exit_code == 0, young.output
    assert "dry run: 0 orphans (0 B) older than 1d" in young.stdout and "1 recent" in young.stdout
    listed = cli("gc", "--results", "--older-than", "0s")
    assert listed.exit_code == 0, listed.output
    assert orphan in listed.stdout and "37 B" in listed.stdout
    assert f"{store}: {len(referenced) + 1} stored results: 1 orphan; kept: {len(referenced)} referenced" in (
        listed.stdout
    )
    assert "dry run: 1 orphan (37 B) older than 0s; run again with --execute to remove them" in listed.stdout
    assert set(ObjectStore(store).keys()) == referenced | {orphan}
    removed = cli("gc", "--results", "--older-than", "0s", "--execute")
    assert removed.exit_code == 0, removed.output
    assert "removed 1 of 1 orphan (37 B), 37 B freed" in removed.stdout
    assert set(ObjectStore(store).keys()) == referenced


def test_the_configured_store_is_looked_at_even_when_no_event_names_it(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = f"file://{tmp_path}/results"
    monkeypatch.setenv("LEDGERFLOW_RESULT_STORAGE", store)
    ObjectStore(store).put("not-a-run/x/1-aa", b"x")
    result = cli("gc", "--results", "--older-than", "0s")
    assert result.exit_code == 0, result.output
    assert f"{store}: 1 stored result: 0 orphans; kept: 1 foreign" in result.stdout


def test_a_store_that_cannot_be_listed_exits_1(
    cli: Invoke, flows_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERFLOW_INLINE_LIMIT", "0")
    store = f"file://{tmp_path}/results"
    orphaned_run(cli, flows_file, store)

    def unreachable(self: ObjectStore, prefix: str = "") -> list[Any]:
        raise ConnectionError("no route to the store")

    monkeypatch.setattr(ObjectStore, "objects", unreachable)
    result = cli("gc", "--results", "--older-than", "0s", "--execute")
    assert result.exit_code == 1
    assert f"FAILED: {store}: cannot list it: ConnectionError: no route to the store" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "say what to collect: --results"),
        (("--results", "--older-than", "soon"), "--older-than 'soon' is not a duration"),
        (("--results", "--result-storage", "nope://x"), "unknown protocol 'nope'"),
    ],
)
def test_bad_usage(cli: Invoke, args: tuple[str, ...], message: str) -> None:
    result = cli("gc", *args)
    assert result.exit_code == 2 and message in result.output
