"""The ResultStore contract."""

from pathlib import Path

import pytest

from ledgerflow.storage import (
    ResultNotFound,
    ResultRefused,
    Storage,
    StorageError,
    StoredResult,
    open_storage,
)
from ledgerflow.storage.serialization import RESULT_KEY_ENV

from ..builders import stored, stored_value


class Model:
    """A module-level class: picklable."""

    def __init__(self, weights: tuple[float, ...]) -> None:
        self.weights = weights


def test_json_and_pickle_round_trip(storage: Storage) -> None:
    storage.results.put_many([stored("j", {"auc": 0.93, "names": ["a"]}), stored("p", Model((1.0, 2.0)))])
    assert stored_value(storage.results, "j") == {"auc": 0.93, "names": ["a"]}
    model = stored_value(storage.results, "p")
    assert isinstance(model, Model) and model.weights == (1.0, 2.0)


def test_missing_result(storage: Storage) -> None:
    with pytest.raises(ResultNotFound, match="'nope'"):
        storage.results.read("nope")


def test_put_is_idempotent_but_refs_are_unique(storage: Storage) -> None:
    storage.results.put_many([stored("a", 1)])
    storage.results.put_many([stored("a", 1), stored("b", 2)])
    assert (stored_value(storage.results, "a"), stored_value(storage.results, "b")) == (1, 2)
    with pytest.raises(StorageError, match="different data"):
        storage.results.put_many([stored("a", 3)])
    assert stored_value(storage.results, "a") == 1


def test_unknown_format_is_refused(storage: Storage) -> None:
    with pytest.raises(StorageError, match="unknown format"):
        storage.results.put_many([StoredResult("x", "r", "t", "yaml", b"")])


def test_a_pickle_signed_with_another_key_is_refused(
    storage: Storage, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.results.put_many([stored("p", Model((1.0,))), stored("j", [1, 2])])
    monkeypatch.setenv(RESULT_KEY_ENV, "another key")
    with open_storage(store_url, tmp_path) as other:
        with pytest.raises(ResultRefused, match="'p'"):
            stored_value(other.results, "p")
        assert stored_value(other.results, "j") == [1, 2]  # JSON needs no signature
