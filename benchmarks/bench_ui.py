"""The web UI's Run page of a large run, on SQLite and on PostgreSQL.

    python benchmarks/bench_ui.py [--children 10000] [--postgres URL] [--repeat 5]

Runs a flow whose dynamic map has CHILDREN tasks (threads), then serves the app in this
process and times, as a browser would ask for them, the Run page (read the log, fold it,
verify the whole chain, lay out the DAG with the map aggregated, the timeline, the task
table, the newest page of events), its live fragment, the JSON run detail and the Runs
page; medians of REPEAT requests. With Debian's chromium on the PATH it also times the Run
page loaded in headless Chromium from a real uvicorn server (request, render, stylesheet,
script). The baseline, measured in the same run on the same
database, is ``engine.get_run`` (read and fold the log), which every page of a run needs:
the ratio says what the page costs beyond it. The target is under a second per page.
"""

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_core import DEFAULT_POSTGRES, fresh_postgres
from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright

import ledgerflow as lf
from ledgerflow.ui import create_app
from ledgerflow.ui.server import serving


@lf.task
def numbers(n: int) -> list[int]:
    return list(range(n))


@lf.task
def double(x: int) -> int:
    return 2 * x


@lf.task
def total(values: list[int]) -> int:
    return sum(values)


@lf.flow(name="ui_bench")
def fanout(n: int) -> int:
    return total(double.map(numbers(n)))


def median_seconds(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The median wall time of ``repeat`` calls, and the last call's answer."""
    times, answer = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        answer = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), answer


def in_browser(url: str, home: Path, path: str, repeat: int) -> float | None:
    """Median seconds for headless Chromium to load ``path`` served by uvicorn (request,
    render, stylesheet and script), or None without a Chromium on the PATH."""
    chromium = shutil.which("chromium")
    if chromium is None:
        print("  (no chromium on the PATH: the in-browser figure is left out)")
        return None
    with serving(create_app(lambda: lf.Engine(url, home=home))) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        page = browser.new_page()
        page.goto(base + path)  # warm up
        seconds, _ = median_seconds(lambda: page.goto(base + path, wait_until="load"), repeat)
        page.goto("about:blank")
        browser.close()
    return seconds


def measure(label: str, url: str, children: int, repeat: int, home: Path) -> None:
    with lf.Engine(url, home=home) as engine:
        run = engine.run(fanout, n=children)
        assert run.state == "SUCCEEDED", run.state
        events = len(engine.events(run.id))
        fold_s, _ = median_seconds(lambda: engine.get_run(run.id), repeat)
        with TestClient(create_app(lambda: lf.Engine(url, home=home))) as client:
            client.get(f"/runs/{run.id}")  # warm up: templates, connections
            rows = []
            for name, path in (
                ("Run page", f"/runs/{run.id}"),
                ("Run page, live fragment", f"/runs/{run.id}?fragment=1"),
                ("Run page, map expanded", f"/runs/{run.id}?expand=double"),
                ("JSON run detail", f"/api/runs/{run.id}"),
                ("Runs page", "/runs"),
            ):
                seconds, answer = median_seconds(lambda path=path: client.get(path), repeat)
                assert answer.status_code == 200, (path, answer.status_code)
                nodes = answer.text.count('<g class="node')
                rows.append((name, seconds, len(answer.content), nodes))
        browser_s = in_browser(url, home, f"/runs/{run.id}", repeat)
    if browser_s is not None:
        rows.append(("Run page in Chromium", browser_s, 0, 0))
    print(f"\n{label}: run of {children:,} mapped children, {events:,} events; "
          f"baseline engine.get_run (read + fold) {fold_s * 1000:.0f} ms")
    print(f"  {'request':<26} {'median':>9} {'÷ get_run':>10} {'bytes':>10} {'SVG nodes':>10}")
    for name, seconds, size, nodes in rows:
        sizes = f"{size:10,} {nodes:10,}" if size else f"{'':>10} {'':>10}"
        print(f"  {name:<26} {seconds * 1000:7.0f} ms {seconds / fold_s:9.1f}x {sizes}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--children", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a server: a database is made there")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        measure("SQLite", f"sqlite:///{home / 'bench.db'}", options.children, options.repeat, home)
        url, drop = fresh_postgres(options.postgres)
        try:
            measure("PostgreSQL", url, options.children, options.repeat, home)
        finally:
            drop()


if __name__ == "__main__":
    main()
