"""Optional zstd compression of stored results: above the threshold and only when the data
compresses, recorded in the reference, hashed as stored (checked and verified without
decompressing), refused when tampered with, and a clear error where zstandard is missing."""

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ledgerflow as lf
from ledgerflow.results import Encoding, ResultNotLoadable, ResultRef, decode_result, encode, sha256_of
from ledgerflow.results.compression import CompressionUnavailable
from ledgerflow.results.objects import ObjectStore
from ledgerflow.results.sinks import ResultSink
from ledgerflow.results.writes import write_result

STEPS = np.arange(1_000_000, dtype=np.int64) % 7  # 8 MB that compress well
NOISE = np.random.default_rng(0).random(1_000_000)  # 8 MB of random floats: they do not


def written(tmp_path: Path, encoding: Encoding, threshold: int = 1 << 16) -> tuple[ResultRef, bytes]:
    sink = ResultSink(f"file://{tmp_path}/results", compression="zstd", compression_threshold=threshold)
    ref = write_result(sink, "run", "task", 1, encoding)
    return ref, bytes(ObjectStore(sink.url or "").read(ref.key).data)


def test_compressible_data_above_the_threshold_is_compressed_and_hashed_as_stored(tmp_path: Path) -> None:
    encoding = encode(STEPS)
    ref, stored = written(tmp_path, encoding)
    assert ref.compression == "zstd" and ref.size == len(stored) < encoding.size / 10
    assert ref.sha256 == sha256_of(stored)  # the stored (compressed) bytes
    assert np.array_equal(decode_result(ref.format, stored, ref.compression), STEPS)


def test_json_compresses_too(tmp_path: Path) -> None:
    value = [i % 100 for i in range(100_000)]
    ref, stored = written(tmp_path, encode(value))
    assert (ref.format, ref.compression) == ("json", "zstd")
    assert decode_result(ref.format, stored, ref.compression) == value


def test_below_the_threshold_nothing_is_compressed(tmp_path: Path) -> None:
    encoding = encode(STEPS)
    ref, stored = written(tmp_path, encoding, threshold=encoding.size + 1)
    assert ref.compression is None and stored == encoding.joined()


def test_data_that_does_not_compress_is_stored_as_it_is(tmp_path: Path) -> None:
    encoding = encode(NOISE)
    ref, stored = written(tmp_path, encoding)
    assert ref.compression is None and stored == encoding.joined()  # not one byte more


@lf.task
def steps() -> Any:
    return STEPS


@lf.task
def total(values: Any) -> int:
    return int(values.sum())


@lf.flow
def summed() -> int:
    return total(steps())


def test_a_tampered_compressed_object_is_refused_and_verify_needs_no_decompression(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = f"file://{tmp_path}/results"
    with lf.Engine(database_url, home=tmp_path, result_storage=store, result_compression="zstd") as engine:
        run = engine.run(summed)
        assert run.state == "SUCCEEDED" and run.result() == int(STEPS.sum())
        produced = run.tasks["steps"].result
        assert produced["compression"] == "zstd" and produced["format"] == "pickle-buffers"

        def refused(*args: Any) -> None:
            raise AssertionError("verify decompressed a result")

        with monkeypatch.context() as patched:
            patched.setattr("ledgerflow.results.codec.decompress", refused)
            assert engine.verify(run.id, results=True).ok
        objects = ObjectStore(store)
        data = bytearray(objects.read(produced["ref"]).data)
        data[len(data) // 2] ^= 0xFF
        objects.delete(produced["ref"])
        objects.put(produced["ref"], bytes(data))
        again = engine.restart(run.id, from_task="total")
        assert again.state == "FAILED"
        error = again.tasks["total"].error
        assert error is not None and error["type"] == "ledgerflow.results.errors.ResultCorrupted"
        assert produced["sha256"] in error["message"]
        assert not engine.verify(run.id, results=True).ok


def test_without_zstandard_compression_is_refused_and_loading_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    with lf.Engine(url, home=tmp_path, result_storage=f"file://{tmp_path}/results",
                   result_compression="zstd") as engine:  # fmt: skip
        run = engine.run(summed)
    monkeypatch.setitem(sys.modules, "zstandard", None)  # as if it were not installed
    with pytest.raises(CompressionUnavailable, match=r"pip install ledgerflow\[zstd\]"):
        lf.Engine(url, home=tmp_path, result_compression="zstd")
    with lf.Engine(url, home=tmp_path, result_storage=f"file://{tmp_path}/results") as engine:
        with pytest.raises(ResultNotLoadable, match=r"zstandard package.*pip install ledgerflow\[zstd\]"):
            engine.get_run(run.id).task_result("steps")
        again = engine.restart(run.id, from_task="total")  # the worker (a pool thread) cannot load it
        error = again.tasks["total"].error
        assert error is not None and error["type"] == "ledgerflow.results.errors.ResultNotLoadable"
        assert "pip install ledgerflow[zstd]" in error["message"]


def test_settings_from_the_environment_and_bad_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    with pytest.raises(CompressionUnavailable, match="unknown compression"):
        lf.Engine(url, home=tmp_path, result_compression="lz4")
    with pytest.raises(ValueError, match="compression_threshold must be a whole number"):
        lf.Engine(url, home=tmp_path, result_compression="zstd", compression_threshold=-1)
    monkeypatch.setenv("LEDGERFLOW_RESULT_COMPRESSION", "zstd")
    monkeypatch.setenv("LEDGERFLOW_COMPRESSION_THRESHOLD", "100000000")
    with lf.Engine(url, home=tmp_path) as engine:
        assert "compression" not in engine.run(summed).tasks["steps"].result  # under the threshold
    monkeypatch.setenv("LEDGERFLOW_COMPRESSION_THRESHOLD", "1000")
    with lf.Engine(url, home=tmp_path) as engine:
        assert engine.run(summed).tasks["steps"].result["compression"] == "zstd"  # in the database
    with lf.Engine(url, home=tmp_path, result_compression="none") as engine:
        assert "compression" not in engine.run(summed).tasks["steps"].result
    monkeypatch.setenv("LEDGERFLOW_COMPRESSION_THRESHOLD", "lots")
    with pytest.raises(ValueError, match=r"\$LEDGERFLOW_COMPRESSION_THRESHOLD must be a whole number"):
        lf.Engine(url, home=tmp_path)
