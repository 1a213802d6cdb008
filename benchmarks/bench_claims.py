"""What a worker's batch claim costs on PostgreSQL: claiming N submitted runs at once.

    python benchmarks/bench_claims.py [--runs 100 1000] [--repeat 5] [--limited] [--postgres URL]

For each N, a fresh database gets N SCHEDULED runs (created one by one, as ``engine.submit``
creates them); one ``claim_scheduled(limit=N)`` takes them
all. The figure is the best of ``--repeat`` claims (each on runs released again after
the claim before). ``--limited`` gives every run's flow a limit of N runs (the claim then
counts its flows' slots, under the flow slots' lock).
"""

import argparse
import os
import tempfile
import time

from bench_core import DEFAULT_POSTGRES, fresh_postgres

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import EventLog, open_storage

TTL = 60.0


def submit(log: EventLog, runs: int, is_limited: bool) -> None:
    """Create ``runs`` SCHEDULED runs of ten flows."""
    terms = {"max_concurrent_runs": runs} if is_limited else {}
    for i in range(runs):
        payload = {"flow": f"f{i % 10}", "state": "SCHEDULED", **terms}
        log.append(f"run-{i:05d}", 0, [NewEvent(None, "run.created", payload)])


def claim_seconds(url: str, runs: int, repeat: int, is_limited: bool) -> float:
    """The best time of ``repeat`` claims of ``runs`` runs."""
    with open_storage(url, tempfile.mkdtemp(prefix="ledgerflow-bench-")) as storage:
        submit(storage.log, runs, is_limited)
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            claimed = storage.log.claim_scheduled("bench", TTL, limit=runs)
            best = min(best, time.perf_counter() - start)
            assert len(claimed) == runs, f"claimed {len(claimed)} of {runs}"
            storage.log.release_many(claimed, "bench")
        return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--limited", action="store_true", help="every run's flow has a (high) run limit")
    parser.add_argument(
        "--postgres", default=os.environ.get("LEDGERFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server URL; a fresh database is created on it and dropped after",
    )  # fmt: skip
    args = parser.parse_args()
    for runs in args.runs:
        url, drop = fresh_postgres(args.postgres)
        try:
            seconds = claim_seconds(url, runs, args.repeat, args.limited)
        finally:
            drop()
        limited = " of limited flows" if args.limited else ""
        print(
            f"claim {runs:>5} runs{limited}: {seconds * 1000:8.1f} ms ({seconds / runs * 1e6:.0f} us per run)"
        )


if __name__ == "__main__":
    main()
