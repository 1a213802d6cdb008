"""Live updates: the change feeds (notifications on PostgreSQL, polling on SQLite) and the
server-sent event streams, read by a real HTTP client from a real uvicorn server."""

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import ledgerflow as lf
from ledgerflow.engine.core.events import NewEvent
from ledgerflow.engine.flow import Flow
from ledgerflow.storage import SqlEventLog, create_db_engine, ensure_schema, run_heads_since
from ledgerflow.storage.run_changes import LISTENER_NAME
from ledgerflow.ui import create_app, live
from ledgerflow.ui.context import UIContext
from ledgerflow.ui.server import serving

from ..storage.builders import created, execute, task_events

FlowOf = Callable[[str], Flow[..., object]]
Serve = Callable[..., AbstractContextManager[tuple[str, FastAPI]]]
TIMEOUT_S = 10.0
postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def running(owner: str = "test") -> NewEvent:
    return NewEvent(None, "run.running", {"owner": owner})


# The feeds


class ManualFeed(live.ChangeFeed):
    """A feed whose changes the test reports."""

    def __init__(self) -> None:
        super().__init__("manual feed")

    def report(self, changes: live.Changes) -> None:
        self._publish(changes)

    def _watch(self) -> None:
        self._ready.set()
        self._stopping.wait()


async def next_naming(subscription: live.Subscription, run_id: str) -> live.Changes:
    """The first changes (within the timeout) that name ``run_id``."""
    async with asyncio.timeout(TIMEOUT_S):
        while run_id not in (changes := await anext(subscription)).run_ids:
            pass
    return changes


@pytest.fixture
def feed(engine: lf.Engine) -> Iterator[live.ChangeFeed]:
    """The feed ``create_app`` picks for the parametrized database, started."""
    started = live.change_feed_for(engine.storage)
    started.start()
    try:
        yield started
    finally:
        started.close()


def test_subscriptions_merge_what_arrives_meanwhile_end_with_the_feed_and_leave_on_exit() -> None:
    feed = ManualFeed()

    async def scenario() -> None:
        with feed.subscribe() as subscription:
            feed.report(live.Changes(frozenset({"a"})))
            feed.report(live.Changes(frozenset({"b"})))
            assert await anext(subscription) == live.Changes(frozenset({"a", "b"}))
            feed.report(live.EVERYTHING)
            assert (await anext(subscription)).everything
            feed.report(live.Changes(frozenset({"c"})))
            feed.close()
            assert [changes async for changes in subscription] == [live.Changes(frozenset({"c"}))]
            assert feed.subscriber_count == 1
        assert feed.subscriber_count == 0

    asyncio.run(scenario())


def test_the_feed_reports_a_run_when_created_and_when_it_appends(
    feed: live.ChangeFeed, engine: lf.Engine, database_url: str
) -> None:
    expected = live.PollingChangeFeed if database_url.startswith("sqlite") else live.PostgresChangeFeed
    assert type(feed) is expected
    log = engine.storage.log

    async def scenario() -> None:
        with feed.subscribe() as subscription:
            assert await asyncio.to_thread(feed.wait_ready, TIMEOUT_S)
            await asyncio.to_thread(log.append, "r1", 0, [created()])
            await next_naming(subscription, "r1")
            await asyncio.to_thread(log.append, "r1", 1, task_events(2))
            await next_naming(subscription, "r1")

    asyncio.run(scenario())


@postgres_only
def test_the_postgres_feed_reconnects_and_says_anything_may_have_changed(
    engine: lf.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    feed = live.PostgresChangeFeed(engine.storage.database, backoff_s=(0.05, 0.5))
    terminate = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = :name"
    )

    async def scenario() -> None:
        with feed.subscribe() as subscription:
            feed.start()
            async with asyncio.timeout(TIMEOUT_S):
                assert (await anext(subscription)).everything  # listening
                await asyncio.to_thread(execute, engine.storage.database, terminate, name=LISTENER_NAME)
                assert (await anext(subscription)).everything  # listening again
            await asyncio.to_thread(engine.storage.log.append, "r1", 0, [created()])
            await next_naming(subscription, "r1")

    try:
        with caplog.at_level(logging.INFO, logger=live.__name__):
            asyncio.run(scenario())
    finally:
        feed.close()
    assert "reconnecting in" in caplog.text and "listening again" in caplog.text


class Flag(logging.Handler):
    """A log handler that raises a flag at its first record."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.raised = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.raised.set()


def test_the_polling_feed_recovers_after_failed_reads(empty_database_url: str, tmp_path: Path) -> None:
    engine = create_db_engine(empty_database_url, tmp_path)  # no schema yet: reads fail
    feed = live.PollingChangeFeed(partial(run_heads_since, engine), interval=0.05)
    warned = Flag()
    logging.getLogger(live.__name__).addHandler(warned)

    async def scenario() -> None:
        with feed.subscribe() as subscription:
            feed.start()
            assert await asyncio.to_thread(warned.raised.wait, TIMEOUT_S)
            await asyncio.to_thread(ensure_schema, engine)
            async with asyncio.timeout(TIMEOUT_S):
                assert (await anext(subscription)).everything
            await asyncio.to_thread(SqlEventLog(engine).append, "r1", 0, [created()])
            await next_naming(subscription, "r1")

    try:
        asyncio.run(scenario())
    finally:
        logging.getLogger(live.__name__).removeHandler(warned)
        feed.close()
        engine.dispose()


def test_close_stops_the_feed_promptly(feed: live.ChangeFeed) -> None:
    assert feed.wait_ready(TIMEOUT_S)
    began = time.monotonic()
    feed.close()
    assert time.monotonic() - began < 1.0
    assert not feed._thread.is_alive()


# The streams


@pytest.fixture
def serve(database_url: str, isolated: Path) -> Serve:
    """``with serve(token=None) as (url, app):`` the app on the parametrized database, served."""

    @contextmanager
    def make(token: str | None = None) -> Iterator[tuple[str, FastAPI]]:
        app = create_app(lambda: lf.Engine(database_url, home=isolated), token=token)
        with serving(app) as url:
            ui = app.state.ui
            assert isinstance(ui, UIContext) and ui.feed.wait_ready(TIMEOUT_S)
            yield url, app

    return make


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=TIMEOUT_S, trust_env=False) as client:
        yield client


class EventReader:
    """Reads a server-sent event stream block by block (every read bounded by the timeout)."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        self._lines = response.iter_lines()

    def block(self) -> list[str]:
        """The lines of the next event or comment."""
        lines = []
        for line in self._lines:
            if not line:
                return lines
            lines.append(line)
        pytest.fail(f"the stream ended (after {lines})")

    def rest(self) -> list[str]:
        """The lines left until the stream ends (a stream cut short raises)."""
        return list(self._lines)

    def event(self, name: str) -> dict[str, Any]:
        """The data of the next event (skipping comments), which must be called ``name``."""
        while (lines := self.block())[0].startswith(":"):
            pass
        assert lines[0] == f"event: {name}" and lines[1].startswith("data: "), lines
        data = orjson.loads(lines[1].removeprefix("data: "))
        assert isinstance(data, dict)
        return data

    def events_until(self, name: str, done: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """The data of the events up to the first that is ``done``."""
        seen = [self.event(name)]
        while not done(seen[-1]):
            seen.append(self.event(name))
        return seen


def test_runs_stream_names_runs_created_and_appending(
    serve: Serve, http: httpx.Client, engine: lf.Engine, flow: FlowOf
) -> None:
    with serve() as (url, _), http.stream("GET", f"{url}/api/live/runs") as response:
        reader = EventReader(response)
        assert reader.block() == [": subscribed"]
        run_id = engine.submit(flow("chain"))
        assert reader.events_until("runs", lambda data: run_id in data["run_ids"])[-1]["all"] is False
        engine.storage.log.append(run_id, 1, [running()])
        reader.events_until("runs", lambda data: run_id in data["run_ids"])


def test_run_stream_sends_the_head_then_every_change_and_outlives_the_end(
    serve: Serve, http: httpx.Client, engine: lf.Engine, flow: FlowOf
) -> None:
    run_id = engine.submit(flow("chain"))
    log = engine.storage.log
    with serve() as (url, _), http.stream("GET", f"{url}/api/live/runs/{run_id}") as response:
        reader = EventReader(response)
        assert reader.event("run") == {"id": run_id, "run_id": run_id, "head_seq": 1, "state": "SCHEDULED"}
        log.append(run_id, 1, [running()])
        assert reader.event("run") == {"id": run_id, "run_id": run_id, "head_seq": 2, "state": "RUNNING"}
        log.append(run_id, 2, [NewEvent(None, "run.failed", {"error": "boom"})])
        assert reader.event("run") == {"id": run_id, "run_id": run_id, "head_seq": 3, "state": "FAILED"}
        log.append(run_id, 3, [running()])  # a restart continues the run
        assert reader.event("run") == {"id": run_id, "run_id": run_id, "head_seq": 4, "state": "RUNNING"}


def test_run_stream_coalesces_a_burst_of_appends(
    serve: Serve, http: httpx.Client, engine: lf.Engine, flow: FlowOf
) -> None:
    run_id = engine.submit(flow("chain"))
    log = engine.storage.log
    with serve() as (url, _), http.stream("GET", f"{url}/api/live/runs/{run_id}") as response:
        reader = EventReader(response)
        assert reader.event("run")["head_seq"] == 1
        began = time.monotonic()
        for seq in range(1, 41):
            log.append(run_id, seq, task_events(1, start=seq))
        burst_s = time.monotonic() - began
        seen = reader.events_until("run", lambda data: data["head_seq"] == 41)
    assert len(seen) <= 2 + burst_s / live.MIN_INTERVAL_S, (len(seen), burst_s)


def test_streams_send_keepalives(
    serve: Serve, http: httpx.Client, engine: lf.Engine, flow: FlowOf, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "KEEPALIVE_S", 0.05)
    run_id = engine.submit(flow("chain"))
    with serve() as (url, _):
        with http.stream("GET", f"{url}/api/live/runs") as response:
            reader = EventReader(response)
            assert [reader.block(), reader.block()] == [[": subscribed"], [": keepalive"]]
        with http.stream("GET", f"{url}/api/live/runs/{run_id}") as response:
            reader = EventReader(response)
            assert reader.event("run")["head_seq"] == 1
            assert reader.block() == [": keepalive"]


def test_a_closed_stream_unsubscribes(
    serve: Serve, http: httpx.Client, engine: lf.Engine, flow: FlowOf
) -> None:
    run_id = engine.submit(flow("chain"))
    with serve() as (url, app):
        ui = app.state.ui
        assert isinstance(ui, UIContext)
        with (
            http.stream("GET", f"{url}/api/live/runs") as runs,
            http.stream("GET", f"{url}/api/live/runs/{run_id}") as one,
        ):
            readers = EventReader(runs), EventReader(one)  # kept: dropping one closes its stream
            assert readers[0].block() == [": subscribed"]
            assert readers[1].event("run")["run_id"] == run_id
            assert ui.feed.subscriber_count == 2
        deadline = time.monotonic() + TIMEOUT_S
        while ui.feed.subscriber_count:  # the server learns of the disconnects on its own time
            assert time.monotonic() < deadline, "the streams stayed subscribed"
            time.sleep(0.01)


def test_closing_the_feed_ends_the_streams_cleanly(
    serve: Serve, http: httpx.Client, engine: lf.Engine, flow: FlowOf
) -> None:
    run_id = engine.submit(flow("chain"))
    with (
        serve() as (url, app),
        http.stream("GET", f"{url}/api/live/runs") as runs,
        http.stream("GET", f"{url}/api/live/runs/{run_id}") as one,
    ):
        readers = EventReader(runs), EventReader(one)
        assert readers[0].block() == [": subscribed"]
        assert readers[1].event("run")["run_id"] == run_id
        app.state.ui.feed.close()
        assert [readers[0].rest(), readers[1].rest()] == [[], []]


def test_an_unknown_run_is_404_before_streaming(serve: Serve, http: httpx.Client) -> None:
    with serve() as (url, _):
        answer = http.get(f"{url}/api/live/runs/no-such-run")
    assert answer.status_code == 404
    assert answer.json() == {
        "detail": "no run with id 'no-such-run' in this database (see `ledgerflow runs`)"
    }


def test_streams_need_the_token(serve: Serve, http: httpx.Client, engine: lf.Engine, flow: FlowOf) -> None:
    run_id = engine.submit(flow("chain"))
    with serve(token="s3cret") as (url, _):
        for path in ("/api/live/runs", f"/api/live/runs/{run_id}"):
            assert http.get(f"{url}{path}").status_code == 401
        bearer = {"Authorization": "Bearer s3cret"}
        with http.stream("GET", f"{url}/api/live/runs", headers=bearer) as response:
            assert EventReader(response).block() == [": subscribed"]


def test_openapi_schema_lists_the_streams(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/live/runs", "/api/live/runs/{run_id}"):
        assert "text/event-stream" in paths[path]["get"]["responses"]["200"]["content"], path


def test_the_server_stops_with_streams_still_open(serve: Serve, http: httpx.Client) -> None:
    with ExitStack() as client_side:
        with serve() as (url, _):  # leaving it asserts the server stopped
            stream = client_side.enter_context(http.stream("GET", f"{url}/api/live/runs"))
            reader = EventReader(stream)
            assert reader.block() == [": subscribed"]
        assert reader.rest() == []  # the server ended the open stream when it stopped
