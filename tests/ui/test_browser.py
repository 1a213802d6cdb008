"""The web UI in a real headless Chromium (Debian's, driven by Playwright): open the runs
list, open a failed run, see its failed task coloured as failed, read its log, restart it and
watch it succeed without reloading the page; see where a task's result is stored, copy its
hash and load its value on request.

Chromium is found as ``LEDGERFLOW_TEST_CHROMIUM`` or ``chromium`` on the PATH (``.ci/run``
installs Debian's package when it is missing). With ``LEDGERFLOW_SCREENSHOTS=DIR`` the
screenshots of the Runs and Run pages are written there (the README's are in docs/).
"""

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

import ledgerflow as lf
from ledgerflow.engine.flow import Flow
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.ui import create_app
from ledgerflow.ui.server import serving

from .test_result_values import FLOWS as VALUE_FLOWS

FlowOf = Callable[[str], Flow[..., object]]
FAILED_RED = "rgb(214, 69, 69)"  # .st-FAILED in ui/static/app.css
SUCCEEDED_GREEN = "rgb(46, 157, 91)"


def chromium_path() -> str:
    """Debian's chromium: the browser tests never skip for want of it."""
    found = os.environ.get("LEDGERFLOW_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser"
    )
    if found is None:
        pytest.fail(
            "the browser tests need Chromium: install Debian's package (apt-get install chromium; "
            ".ci/run does) or set LEDGERFLOW_TEST_CHROMIUM to a Chromium binary"
        )
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def problems() -> list[str]:
    """The page's script errors and console errors: none are expected unless a test takes
    them out of this list."""
    return []


@pytest.fixture
def page(browser: Browser, problems: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    opened = context.new_page()
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    yield opened
    context.close()
    assert problems == [], f"the page reported errors: {problems}"


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("LEDGERFLOW_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_restart_a_failed_run_and_watch_it_succeed_live(
    page: Page, engine: lf.Engine, flow: FlowOf, flows_dir: Path, database_url: str, isolated: Path,
    screenshots: Path,
) -> None:  # fmt: skip
    engine.run(flow("fanout"), n=40)
    (flows_dir / "break").touch()
    failed = engine.run(flow("held"), x=7)
    assert failed.state == "FAILED"
    (flows_dir / "break").unlink()
    (flows_dir / "hold").touch()  # the restarted task runs until the test lets it finish

    app = create_app(lambda: lf.Engine(database_url, home=isolated))
    with serving(app) as base:
        page.goto(f"{base}/runs")
        row = page.locator(f'tr[data-run="{failed.id}"]')
        expect(row).to_have_attribute("data-state", "FAILED")
        expect(page.locator('.counts .count[data-state="FAILED"]')).to_contain_text("1")
        page.screenshot(path=screenshots / "ui-runs.png", full_page=True)

        row.get_by_role("link").click()
        expect(page).to_have_url(f"{base}/runs/{failed.id}")
        node = page.locator('svg.dag [data-key="guarded"]')
        expect(node).to_have_attribute("data-state", "FAILED")
        expect(node.locator("rect.box")).to_have_css("fill", FAILED_RED)
        expect(page.locator('svg.dag [data-key="double"]')).to_have_attribute("data-state", "UPSTREAM_FAILED")
        expect(page.locator(".verified.ok")).to_be_visible()

        page.locator('svg.dag a:has([data-key="guarded"])').click()
        log = page.locator("#task-log")
        expect(log).to_contain_text("checking input 7")
        expect(page.locator("#task .error")).to_contain_text("RuntimeError: broken at 7")
        page.screenshot(path=screenshots / "ui-run.png", full_page=True)

        page.evaluate("window.notReloaded = true")
        page.locator(".run-head .actions button", has_text="Restart run").click()
        dialog = page.locator("dialog#confirm")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text(f"Restart run {failed.id}?")
        dialog.get_by_role("button", name="Confirm").click()

        head = page.locator(".run-head")
        expect(head).to_have_attribute("data-state", "RUNNING", timeout=20_000)
        expect(node).to_have_attribute("data-state", "RUNNING")
        (flows_dir / "hold").unlink()
        # within 10 s: the live stream, not the 15 s safety poll, brings it
        expect(head).to_have_attribute("data-state", "SUCCEEDED", timeout=10_000)
        expect(node).to_have_attribute("data-state", "SUCCEEDED")
        expect(page.locator('svg.dag [data-key="double"]')).to_have_attribute("data-state", "SUCCEEDED")
        expect(node.locator("rect.box")).to_have_css("fill", SUCCEEDED_GREEN)
        assert page.evaluate("window.notReloaded") is True  # updated in place, by the live stream
        expect(page.locator("#flash")).to_contain_text("Restart run: done")
        page.goto("about:blank")  # closes the live stream before the server stops

    assert engine.get_run(failed.id).state == "SUCCEEDED"
    assert [e.type for e in engine.events(failed.id)].count("run.succeeded") == 1


def test_change_a_limit_and_pause_a_schedule_only_once_confirmed(
    page: Page, engine: lf.Engine, flow: FlowOf, database_url: str, isolated: Path
) -> None:
    engine.set_limit("db", 2)
    engine.schedule("nightly", flow("chain"), cron="0 3 * * *", tz="Europe/Berlin")
    app = create_app(lambda: lf.Engine(database_url, home=isolated))
    dialog = page.locator("dialog#confirm")
    with serving(app) as base:
        page.goto(f"{base}/limits")
        row = page.locator('tr[data-tag="db"]')
        row.locator('input[name="limit"]').fill("5")
        row.get_by_role("button", name="Set").click()
        expect(dialog).to_contain_text("Let at most 5 tasks tagged db run at once?")
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
        assert [usage.limit for usage in engine.limits()] == [2]  # dismissed: nothing changed

        row.get_by_role("button", name="Set").click()
        dialog.get_by_role("button", name="Confirm").click()
        expect(page.locator("#flash")).to_contain_text("Set: done")
        expect(row.locator("td").nth(2)).to_have_text("5")
        assert [usage.limit for usage in engine.limits()] == [5]

        page.goto(f"{base}/schedules")
        schedule = page.locator('tr[data-schedule="nightly"]')
        expect(schedule).to_have_attribute("data-paused", "false")
        schedule.get_by_role("button", name="Pause").click()
        expect(dialog).to_contain_text("Pause schedule nightly?")
        dialog.get_by_role("button", name="Confirm").click()
        expect(schedule).to_have_attribute("data-paused", "true")
        assert [record.is_paused for record in engine.schedules()] == [True]


def test_with_a_token_the_browser_logs_in_and_out(
    page: Page, engine: lf.Engine, flow: FlowOf, database_url: str, isolated: Path, problems: list[str]
) -> None:
    run = engine.run(flow("chain"))
    app = create_app(lambda: lf.Engine(database_url, home=isolated), token="s3cret")
    with serving(app) as base:
        page.goto(f"{base}/runs/{run.id}")
        expect(page).to_have_url(f"{base}/login?next=%2Fruns%2F{run.id}")
        page.get_by_label("Token").fill("wrong")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#login-problem")).to_have_text("wrong token")
        refused = "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
        assert problems == [refused]
        problems.clear()  # the refused login, as expected
        page.get_by_label("Token").fill("s3cret")
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(f"{base}/runs/{run.id}")
        expect(page.locator(".run-head")).to_have_attribute("data-state", "SUCCEEDED")
        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(f"{base}/login")
        page.goto(f"{base}/runs")
        expect(page).to_have_url(f"{base}/login?next=%2Fruns")


def test_the_task_panel_says_where_a_result_is_and_loads_it_on_request(
    page: Page, database_url: str, isolated: Path, tmp_path: Path
) -> None:
    flows = tmp_path / "value_flows.py"
    flows.write_text(VALUE_FLOWS)
    store = (tmp_path / "results").as_uri()
    with lf.Engine(database_url, home=isolated, result_storage=store) as engine:
        run = engine.run(load_flow(f"{flows}:table"))
    rows = run.tasks["rows"].result
    assert rows is not None

    app = create_app(lambda: lf.Engine(database_url, home=isolated))
    with serving(app) as base:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        page.goto(f"{base}/runs/{run.id}")
        page.locator('svg.dag a:has([data-key="rows"])').click()
        panel = page.locator("#task")
        expect(panel.locator("code.where")).to_have_text(store)
        expect(panel.locator("code.key")).to_have_text(rows["ref"])
        expect(panel.locator("td.size")).to_contain_text(f"{rows['size']:,} bytes")
        expect(panel.locator("#task-result-sha256")).to_have_text(rows["sha256"])
        expect(panel.locator("#task-result")).to_have_count(0)  # a large value: not with the page

        panel.get_by_role("button", name="copy the full SHA-256").click()
        expect(panel.locator("button.copy")).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == rows["sha256"]

        panel.get_by_role("button", name="Show value").click()
        shown = panel.locator("pre#task-result")
        expect(shown).to_contain_text("[\n  0,\n  1,\n  2,")
        expect(panel.locator("#task-result-box p.muted")).to_contain_text("showing the first")

        stored = tmp_path / "results" / rows["ref"]
        stored.write_bytes(stored.read_bytes().replace(b"19999", b"99999"))
        page.locator("#result").get_by_role("button", name="Show result").click()
        problem = page.locator('#result [data-problem="corrupted"]')
        expect(problem).to_contain_text(f"the event records sha256 {rows['sha256']}")
        expect(problem).to_have_attribute("role", "alert")
        expect(page.locator("pre#run-result")).to_have_count(0)
        page.goto("about:blank")  # closes the live stream before the server stops
