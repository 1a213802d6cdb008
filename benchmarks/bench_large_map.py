"""One run with a dynamic map of many children: wall time, tasks/s, rows per child, peak RSS.

    python benchmarks/bench_large_map.py [--children 100000] [--database URL]

The map expands at run time over an upstream task's list result, on the thread
executor; the default database is an embedded SQLite file in a temporary directory.
"""

import argparse
import resource
import tempfile
import time

import ledgerflow as lf


@lf.task
def numbers(n: int) -> list[int]:
    return list(range(n))


@lf.task
def noop(x: int) -> None:
    return None


@lf.flow(name="large_map")
def large_map(n: int) -> None:
    noop.map(numbers(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=100_000)
    parser.add_argument("--database", default=None, help="a database URL (default: SQLite)")
    args = parser.parse_args()
    with lf.Engine(args.database, "threads", home=tempfile.mkdtemp(prefix="ledgerflow-bench-")) as engine:
        started = time.perf_counter()
        run = engine.run(large_map, n=args.children)
        seconds = time.perf_counter() - started
        rows = engine.storage.log.run(run.id).head_seq  # seqs are gap-free: one row each
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"state {run.state}, {args.children} children in {seconds:.1f} s "
          f"({args.children / seconds:,.0f} tasks/s), {rows} event rows "
          f"({rows / args.children:.2f} per child), peak RSS {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
