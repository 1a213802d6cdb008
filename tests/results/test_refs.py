"""Result references as events record them, and the checks of stored bytes against them."""

import pytest

import ledgerflow as lf
from ledgerflow.results import (
    DATABASE,
    ResultCorrupted,
    ResultRef,
    check_bytes,
    database_key,
    missing,
    object_key,
    public_url,
    sha256_of,
)

DATA = b'{"approved":false}'


def test_a_database_payload_is_todays_payload_and_round_trips() -> None:
    ref = ResultRef(DATABASE, database_key("run-1", "pick", 2), "json", len(DATA), sha256_of(DATA))
    payload = ref.to_payload()
    assert payload == {"ref": "run-1/pick/2", "format": "json", "size": 18, "sha256": sha256_of(DATA)}
    assert ResultRef.from_payload(payload) == ref and ref.is_in_database


def test_an_object_store_payload_names_its_store_and_compression() -> None:
    key = object_key("run-1", "train[3]", 1, sha256_of(DATA))
    ref = ResultRef("s3://bucket/prefix", key, "pickle", 10, sha256_of(DATA), compression="zstd")
    payload = ref.to_payload()
    assert payload["store"] == "s3://bucket/prefix" and payload["compression"] == "zstd"
    assert ResultRef.from_payload(payload) == ref and not ref.is_in_database
    assert (ref.run_id, ref.task_key) == ("run-1", "train[3]")


def test_run_and_task_come_from_the_key() -> None:
    ref = ResultRef(DATABASE, "20260101-000000-abcd/double-1[12]/3", "json", 1, "0" * 64)
    assert (ref.run_id, ref.task_key) == ("20260101-000000-abcd", "double-1[12]")


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        ("s3://user:secret@bucket/prefix?token=abc#x", "s3://bucket/prefix"),
        ("az://key@container/results?sv=2020&sig=s3cr3t", "az://container/results"),
        ("file:///shared/results", "file:///shared/results"),
        ("https://user:pw@host:8443/path", "https://host:8443/path"),
        ("memory://results", "memory://results"),
    ],
)
def test_public_urls_hold_no_credentials(url: str, public: str) -> None:
    assert public_url(url) == public


def test_bytes_that_match_pass() -> None:
    check_bytes(ResultRef(DATABASE, "r/t/1", "json", len(DATA), sha256_of(DATA)), DATA)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"approved":true }', "its sha256 differs from the recorded one"),
        (DATA[:5], "5 bytes where 18 were recorded"),
    ],
)
def test_altered_bytes_are_corrupted(data: bytes, reason: str) -> None:
    ref = ResultRef(DATABASE, "run-1/review/1", "json", len(DATA), sha256_of(DATA))
    with pytest.raises(ResultCorrupted) as raised:
        check_bytes(ref, data)
    error = raised.value
    assert isinstance(error, lf.LedgerflowError)
    assert (error.run_id, error.task_key, error.ref) == ("run-1", "review", "run-1/review/1")
    assert (error.expected, error.found, error.reason) == (sha256_of(DATA), sha256_of(data), reason)
    assert str(error).startswith("run run-1, task review: stored result 'run-1/review/1' is corrupted")
    assert sha256_of(DATA) in str(error) and sha256_of(data) in str(error)


def test_a_missing_object_is_corrupted() -> None:
    error = missing(ResultRef("s3://b/p", "run-1/review/1-ab", "json", 3, "0" * 64))
    assert error.found.startswith("nothing")
    assert "nothing is stored under 'run-1/review/1-ab' in s3://b/p" in str(error)
    assert lf.ResultCorrupted is ResultCorrupted is lf.errors.ResultCorrupted
