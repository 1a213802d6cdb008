"""How results are encoded and compressed: the candidates measured on large arrays and frames.

    python benchmarks/bench_result_formats.py [--megabytes 128] [--repeat 3]

For a float64 array, a pandas DataFrame (numeric columns) and a ``bytes`` value, each about
``--megabytes`` MB: the time to encode, hash (sha256) and write the result to a local file,
and to read it back, check its sha256 and decode it, for ``pickle.dumps`` in one piece (how
results were written before), ledgerflow's encoding (a pickle written in chunks; numpy and
pandas buffers out of band: ``pickle-buffers``), ``numpy.save`` (arrays only) and Parquet
(frames only, when pyarrow is installed). Then zstd (ledgerflow's level) on data that
compresses and data that does not: ratio, time to write and to read through a ledgerflow
store with ``compression="zstd"`` and without. Best of ``--repeat``.
"""

import argparse
import hashlib
import io
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ledgerflow.results import Encoding, ResultRef, check_bytes, decode_stored, encode
from ledgerflow.results.objects import ObjectStore
from ledgerflow.results.sinks import ResultSink
from ledgerflow.results.writes import write_result

MB = 1_000_000


def best(work: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def read_checked(path: str) -> bytearray:
    with open(path, "rb", buffering=0) as source:
        data = bytearray(os.fstat(source.fileno()).st_size)
        source.readinto(data)
    hashlib.sha256(data).hexdigest()
    return data


def loaded(store: ObjectStore, ref: ResultRef) -> Any:
    """A result as ledgerflow loads it from its store: read, checked, decoded."""
    fetched = store.read(ref.key)
    check_bytes(ref, fetched.data, fetched.sha256)
    return decode_stored(ref.key, ref.format, fetched.data, ref.compression)


def hashed_file(path: str) -> None:
    with open(path, "rb") as source:
        hashlib.file_digest(source, "sha256")


def candidates(
    value: Any, path: str, store: ObjectStore
) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """Each candidate's (write, read) for ``value``."""

    def dumps_write() -> None:
        data = pickle.dumps(value, protocol=5)
        hashlib.sha256(data).hexdigest()
        with open(path, "wb") as out:
            out.write(data)

    def dumps_read() -> Any:
        return pickle.loads(read_checked(path))

    refs: list[ResultRef] = []

    def ours_write() -> None:
        for ref in refs:
            store.delete(ref.key)
        refs.append(write_result(ResultSink(store.url), "bench", "value", len(refs) + 1, encode(value)))

    def ours_read() -> Any:
        return loaded(store, refs[-1])

    found = {"pickle.dumps, one piece": (dumps_write, dumps_read), "ledgerflow": (ours_write, ours_read)}
    if isinstance(value, np.ndarray):

        def npy_write() -> None:
            with open(path, "wb") as out:
                np.save(out, value, allow_pickle=False)
            hashed_file(path)

        found["numpy.save"] = (npy_write, lambda: np.load(io.BytesIO(read_checked(path)), allow_pickle=False))
    if isinstance(value, pd.DataFrame):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            return found

        def parquet_write() -> None:
            pq.write_table(pa.Table.from_pandas(value), path, compression="none")
            hashed_file(path)

        def parquet_read() -> Any:
            return pq.read_table(pa.BufferReader(read_checked(path))).to_pandas()

        found["Parquet (pyarrow)"] = (parquet_write, parquet_read)
    return found


def formats(megabytes: int, repeat: int, directory: str) -> None:
    rng = np.random.default_rng(0)
    rows = megabytes * MB // 32
    values = {
        "float64 array": rng.random(megabytes * MB // 8),
        "DataFrame (4 numeric columns)": pd.DataFrame(
            {
                "a": rng.random(rows),
                "b": rng.random(rows),
                "c": rng.integers(0, 1000, rows),
                "d": rng.random(rows),
            }
        ),
        "bytes": bytes(range(256)) * (megabytes * MB // 256),
    }
    print(f"\n{'value':<32}{'encoding':<26}{'write+hash ms':>14}{'read+check+decode ms':>22}{'format':>16}")
    for name, value in values.items():
        store = ObjectStore(f"file://{directory}/store")
        for label, (write, read) in candidates(value, f"{directory}/value", store).items():
            written, back = best(write, repeat), best(read, repeat)
            shown = encode(value).format if label == "ledgerflow" else ""
            print(f"{name:<32}{label:<26}{written * 1000:>14.0f}{back * 1000:>22.0f}{shown:>16}")


def compression(megabytes: int, repeat: int, directory: str) -> None:
    rng = np.random.default_rng(0)
    count = megabytes * MB // 8
    values = {
        "random float64": rng.random(count),
        "float64 rounded to 0.01": np.round(rng.random(count), 2),
        "int64 in 0..999": rng.integers(0, 1000, count),
        "one byte repeated": bytes([7]) * (megabytes * MB),
    }
    header = f"{'value':<28}{'setting':<9}{'stored as':<11}{'stored MB':>10}{'write+hash ms':>15}"
    print(f"\n{header}{'read+check+decode ms':>22}")
    for name, value in values.items():
        encoding = encode(value)
        for chosen in (None, "zstd"):
            sink = ResultSink(f"file://{directory}/{chosen}", compression=chosen)
            stored, written, read = through_store(sink, encoding, repeat)
            shown = f"{name:<28}{chosen or 'none':<9}{stored.compression or 'as it is':<11}"
            print(f"{shown}{stored.size / MB:>10.1f}{written * 1000:>15.0f}{read * 1000:>22.0f}")


def through_store(sink: ResultSink, encoding: Encoding, repeat: int) -> tuple[ResultRef, float, float]:
    """The reference of ``encoding`` written to ``sink``, the best times to write and to load it."""
    store = ObjectStore(sink.url or "")
    refs: list[ResultRef] = []

    def write() -> None:
        for ref in refs:
            store.delete(ref.key)
        refs.append(write_result(sink, "bench", "value", len(refs) + 1, encoding))

    written = best(write, repeat)
    return refs[-1], written, best(lambda: loaded(store, refs[-1]), repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=128, help="size of each value (default 128)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs (default 3)")
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    directory = tempfile.mkdtemp(prefix="ledgerflow-bench-formats-")
    try:
        formats(args.megabytes, args.repeat, directory)
        compression(args.megabytes, args.repeat, directory)
    finally:
        shutil.rmtree(directory)
    print(f"load average at the end: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")


if __name__ == "__main__":
    main()
