"""The canonical bytes of events: stable, sorted, strict about JSON."""

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from ledgerflow.storage import PayloadNotJSON
from ledgerflow.storage.codec import (
    GENESIS_HASH,
    ChainHasher,
    canonical_payload,
    format_ts,
)

TS = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def test_canonical_payload_sorts_keys_at_every_level() -> None:
    assert canonical_payload({"b": 1, "a": {"d": [1, 2.5], "c": None}}) == (
        b'{"a":{"c":null,"d":[1,2.5]},"b":1}'
    )


def test_canonical_bytes_are_stable() -> None:
    canonical = ChainHasher("run-1").canonical(3, "t[0]", "task.running", {"b": 1, "a": "é"}, TS)
    assert canonical == (
        b'{"payload":{"a":"\xc3\xa9","b":1},"run_id":"run-1","seq":3,"task_key":"t[0]",'
        b'"ts":"2026-01-02T03:04:05.123456+00:00","type":"task.running"}'
    )
    expected = {
        "payload": {"a": "é", "b": 1},
        "run_id": "run-1",
        "seq": 3,
        "task_key": "t[0]",
        "ts": "2026-01-02T03:04:05.123456+00:00",
        "type": "task.running",
    }
    assert canonical == orjson.dumps(expected, option=orjson.OPT_SORT_KEYS)
    # A golden value: changing it breaks every stored chain.
    assert ChainHasher("run-1").hash(GENESIS_HASH, 3, "t[0]", "task.running", {"b": 1, "a": "é"}, TS) == (
        "d7f59ec7c764b906f17a873aa5db045b1e8f130c1b487921773c89b855660f59"
    )


def test_payload_as_text_or_mapping_give_the_same_bytes() -> None:
    payload = {"z": [1, {"y": True}], "a": 0.1}
    as_text = canonical_payload(payload).decode()
    for form in (payload, as_text, as_text.encode()):
        assert ChainHasher("r").canonical(1, None, "run.created", form, TS) == (
            ChainHasher("r").canonical(1, None, "run.created", payload, TS)
        )


def test_ts_is_utc_with_microseconds_whatever_the_zone() -> None:
    assert format_ts(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000+00:00"
    shifted = TS.astimezone(timezone(timedelta(hours=5)))
    assert format_ts(shifted) == "2026-01-02T03:04:05.123456+00:00"
    with pytest.raises(ValueError, match="naive"):
        format_ts(datetime(2026, 1, 2))


def test_the_hash_is_sha256_of_prev_hash_and_canonical_bytes() -> None:
    assert GENESIS_HASH == "0" * 64
    hasher = ChainHasher("run-1")
    prev = GENESIS_HASH
    for seq in range(1, 5):
        ts = TS + timedelta(microseconds=seq // 2)
        payload = {"seq": seq}
        canonical = ChainHasher("run-1").canonical(seq, None, "x", payload, ts)
        expected = hashlib.sha256(prev.encode() + canonical).hexdigest()
        assert hasher.hash(prev, seq, None, "x", payload, ts) == expected
        prev = expected


@pytest.mark.parametrize(
    ("payload", "type_name"),
    [
        ({"s": {1, 2}}, "set"),
        ({"when": datetime(2026, 1, 1, tzinfo=UTC)}, "datetime"),
        ({"nested": [{1: "int key"}]}, "int"),
        ({"big": 2**70}, "int"),
        ({"obj": object()}, "object"),
    ],
)
def test_non_json_payload_names_the_offending_type(payload: dict, type_name: str) -> None:
    with pytest.raises(PayloadNotJSON, match=f"offending type: {type_name}") as info:
        canonical_payload(payload)
    assert info.value.type_name == type_name
