"""N experiments x M parameter sets: ledgerflow against raw Dask on one LocalCluster.

    python benchmarks/bench_experiments.py [--experiments 20] [--params 25] [--epochs 60]
                                           [--workers 2] [--postgres URL]

Each experiment loads its own synthetic data set, fits a logistic regression (plain
Python gradient descent, CPU-bound, tens of milliseconds) for every parameter set, and
picks the best fit: N * (M + 2) tasks in all. The same work runs as raw Dask futures
(``client.submit``/``client.map``) and as a ledgerflow flow with a DaskExecutor on the
same cluster, with its log on a fresh PostgreSQL database and on SQLite. Prints wall
times, tasks/s, event rows per task and the ratio to raw Dask from this same run, and
checks that every system picked the same best parameters. "driver CPU" is the CPU time
of this process: on a machine with as many cores as Dask workers, it is taken from them.
"""

import argparse
import math
import os
import random
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from bench_core import DEFAULT_POSTGRES, fresh_postgres
from distributed import Client, LocalCluster

import ledgerflow as lf

Sample = tuple[float, float, int]


@lf.task
def load(experiment: int, size: int = 300) -> list[Sample]:
    """A two-feature binary classification set, different for every experiment."""
    rng = random.Random(experiment)
    tilt = rng.uniform(-2.0, 2.0)
    samples = []
    for _ in range(size):
        x1, x2 = rng.gauss(0, 1), rng.gauss(0, 1)
        samples.append((x1, x2, int(x1 * tilt + x2 + rng.gauss(0, 0.5) > 0)))
    return samples


@lf.task
def fit(params: dict[str, float], data: list[Sample], epochs: int) -> dict[str, Any]:
    """Gradient descent on the log loss with L2 penalty; returns the parameters and accuracy."""
    w1 = w2 = b = 0.0
    rate, penalty = params["rate"], params["penalty"]
    for _ in range(epochs):
        g1 = g2 = gb = 0.0
        for x1, x2, y in data:
            p = 1.0 / (1.0 + math.exp(-(w1 * x1 + w2 * x2 + b)))
            g1, g2, gb = g1 + (p - y) * x1, g2 + (p - y) * x2, gb + (p - y)
        n = len(data)
        w1 -= rate * (g1 / n + penalty * w1)
        w2 -= rate * (g2 / n + penalty * w2)
        b -= rate * gb / n
    correct = sum((w1 * x1 + w2 * x2 + b > 0) == bool(y) for x1, x2, y in data)
    return {"params": params, "accuracy": correct / len(data)}


@lf.task
def pick(fits: list[dict[str, Any]]) -> dict[str, Any]:
    """The fit with the best accuracy (the first of equals)."""
    return max(fits, key=lambda found: found["accuracy"])


@lf.flow(name="experiments")
def experiments(n: int, grid: list[dict[str, float]], epochs: int) -> list[Any]:
    best = []
    for experiment in range(n):
        data = load(experiment)
        fits = fit.map(grid, data=lf.unmapped(data), epochs=lf.unmapped(epochs))
        best.append(pick(fits))
    return best


def parameter_grid(m: int) -> list[dict[str, float]]:
    """M parameter sets: learning rates by penalties."""
    rates = [0.05 * (1 + i) for i in range(max(1, round(math.sqrt(m))))]
    return [{"rate": rates[i % len(rates)], "penalty": 0.001 * (i // len(rates))} for i in range(m)]


def raw_dask(client: Client, n: int, grid: list[dict[str, float]], epochs: int) -> list[Any]:
    """The same work as plain Dask futures."""
    best = []
    for experiment in range(n):
        data = client.submit(load.fn, experiment, pure=False)
        fits = client.map(fit.fn, grid, data=data, epochs=epochs, pure=False)
        best.append(client.submit(pick.fn, fits, pure=False))
    return list(client.gather(best))


@dataclass
class Measurement:
    system: str
    seconds: float
    driver_cpu: float  # CPU seconds of this process (the client, or ledgerflow's driver)
    events: int | None = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=20)
    parser.add_argument("--params", type=int, default=25)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument(
        "--postgres", default=os.environ.get("LEDGERFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server URL; a fresh database is created on it and dropped after",
    )
    args = parser.parse_args()
    n, grid, epochs = args.experiments, parameter_grid(args.params), args.epochs
    tasks = n * (len(grid) + 2)
    results: list[Measurement] = []
    answers: dict[str, list[Any]] = {}
    postgres_url, drop = fresh_postgres(args.postgres)
    home = tempfile.mkdtemp(prefix="ledgerflow-bench-")
    try:
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            raw_dask(client, 1, grid[:2], 1)  # warm up the workers
            start, cpu = time.perf_counter(), time.process_time()
            answers["raw Dask"] = raw_dask(client, n, grid, epochs)
            results.append(
                Measurement("raw Dask", time.perf_counter() - start, time.process_time() - cpu)
            )
            print(f"  raw Dask {results[-1].seconds:.2f} s", flush=True)
            logs = (("ledgerflow Dask+PostgreSQL", postgres_url), ("ledgerflow Dask+SQLite", None))
            for label, url in logs:
                with lf.Engine(url, lf.DaskExecutor(client=client), home=home) as engine:
                    engine.run(experiments, n=1, grid=grid[:2], epochs=1)  # warm up
                    start, cpu = time.perf_counter(), time.process_time()
                    run = engine.run(experiments, n=n, grid=grid, epochs=epochs)
                    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
                    assert run.state == "SUCCEEDED", run
                    answers[label] = run.result()
                    rows = engine.storage.log.run(run.id).head_seq
                    results.append(Measurement(label, seconds, cpu, rows))
                print(f"  {label} {seconds:.2f} s", flush=True)
    finally:
        drop()
    assert all(found == answers["raw Dask"] for found in answers.values()), "systems disagree"
    raw = results[0].seconds
    print(f"\n{n} experiments x {len(grid)} parameter sets = {tasks} tasks, {epochs} epochs, "
          f"{args.workers} Dask worker processes")
    print(f"{'system':<30}{'wall s':>9}{'tasks/s':>10}{'driver CPU s':>14}{'rows/task':>11}"
          f"{'vs raw Dask':>13}")
    for m in results:
        rows = f"{m.events / tasks:.2f}" if m.events else "-"
        print(f"{m.system:<30}{m.seconds:>9.2f}{tasks / m.seconds:>10.0f}{m.driver_cpu:>14.2f}"
              f"{rows:>11}{m.seconds / raw:>12.2f}x")


if __name__ == "__main__":
    main()
