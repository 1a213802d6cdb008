"""Live updates: change feeds that tell which runs changed (PostgreSQL notifications, or
polling the runs), and the server-sent event streams under ``/api/live`` built on them."""

import asyncio
import contextlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from types import TracebackType
from typing import Any, Self

import orjson
import sqlalchemy as sa
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from ..storage import AppendListener, RunNotFound, Storage, StorageError, run_heads_since
from .context import Context, UIContext

logger = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
"""Seconds without a message after which a stream sends a keepalive comment."""
MIN_INTERVAL_S = 0.25
"""Seconds between two messages of a stream at least: changes meanwhile merge into the next."""
CLOSE_TIMEOUT_S = 2.0
"""How long ``ChangeFeed.close`` waits for its thread (a daemon: it never holds up exit)."""


@dataclass(frozen=True, slots=True)
class Changes:
    """Runs that changed: these ids, and with ``everything``, possibly any run."""

    run_ids: frozenset[str] = frozenset()
    everything: bool = False

    def __or__(self, other: "Changes") -> "Changes":
        return Changes(self.run_ids | other.run_ids, self.everything or other.everything)

    def __bool__(self) -> bool:
        return self.everything or bool(self.run_ids)

    def concerns(self, run_id: str) -> bool:
        """True if the run may have changed."""
        return self.everything or run_id in self.run_ids


EVERYTHING = Changes(everything=True)


class Subscription:
    """The changes a feed reports to one asyncio subscriber: ``async for changes in it``,
    each the merge of all reported since the previous one; the iteration ends once the
    feed is closed. Leaving ``with`` unsubscribes."""

    def __init__(self, feed: "ChangeFeed") -> None:
        self._feed = feed
        self._loop = asyncio.get_running_loop()
        self._pending = Changes()
        self._arrived = asyncio.Event()  # set when changes are pending, or at the end
        self._is_ended = False

    def deliver(self, changes: Changes) -> None:
        """Add ``changes`` (from any thread)."""
        self._call_in_loop(self._add, changes)

    def end(self) -> None:
        """End the iteration after the pending changes (from any thread)."""
        self._call_in_loop(self._end)

    def _call_in_loop(self, function: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is left to tell
            self._loop.call_soon_threadsafe(function, *args)

    def _add(self, changes: Changes) -> None:
        self._pending |= changes
        self._arrived.set()

    def _end(self) -> None:
        self._is_ended = True
        self._arrived.set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Changes:
        await self._arrived.wait()
        if not self._is_ended:
            self._arrived.clear()
        if not self._pending:
            raise StopAsyncIteration
        changes, self._pending = self._pending, Changes()
        return changes

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._feed.unsubscribe(self)


class ChangeFeed(ABC):
    """Tells asyncio subscribers which runs changed, from a thread watching the database:
    ``start()`` it, ``subscribe()`` in an event loop, ``close()`` it when done."""

    def __init__(self, name: str) -> None:
        self._subscriptions: set[Subscription] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=name, daemon=True)

    def start(self) -> None:
        """Start watching in the feed's thread."""
        self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the feed watches (listens, or has read the runs' heads): changes from
        then on reach subscribers. False if it does not within ``timeout`` seconds."""
        return self._ready.wait(timeout)

    def subscribe(self) -> Subscription:
        """A new subscription to the changes reported from now on (call it in the loop)."""
        subscription = Subscription(self)
        with self._lock:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop reporting to ``subscription``."""
        with self._lock:
            self._subscriptions.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions are open."""
        with self._lock:
            return len(self._subscriptions)

    def close(self) -> None:
        """Stop watching and end the subscriptions' iterations; returns once the thread
        stopped (or after ``CLOSE_TIMEOUT_S``)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(CLOSE_TIMEOUT_S)
        for subscription in self._subscribed():
            subscription.end()

    def _publish(self, changes: Changes) -> None:
        for subscription in self._subscribed():
            subscription.deliver(changes)

    def _subscribed(self) -> list[Subscription]:
        with self._lock:
            return list(self._subscriptions)

    @abstractmethod
    def _watch(self) -> None:
        """Report changes until ``_stopping`` is set; set ``_ready`` while watching."""


class PostgresChangeFeed(ChangeFeed):
    """Relays the notifications PostgreSQL sends as runs append, on one connection of its
    own; if it drops, reconnects with a bounded exponential backoff. Each time it starts
    listening, it reports that any run may have changed (none was seen before)."""

    def __init__(
        self, engine: sa.Engine, *, wait_s: float = 0.25, backoff_s: tuple[float, float] = (0.5, 10.0)
    ) -> None:
        super().__init__("ledgerflow change feed (listen)")
        self._engine = engine
        self._wait_s = wait_s  # how often the thread checks whether to stop
        self._backoff_s = backoff_s  # first and longest delay before reconnecting

    def _watch(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                with AppendListener(self._engine) as listener:
                    if failures:
                        logger.info("change feed: listening again after %d failed attempts", failures)
                    failures = 0
                    self._ready.set()
                    self._publish(EVERYTHING)
                    self._relay(listener)
            except StorageError as exc:
                self._ready.clear()
                failures += 1
                first, longest = self._backoff_s
                delay = min(first * 2 ** (failures - 1), longest)
                logger.warning("change feed: %s; reconnecting in %.1f s", exc, delay)
                self._stopping.wait(delay)

    def _relay(self, listener: AppendListener) -> None:
        while not self._stopping.is_set():
            if run_ids := listener.appended_runs(self._wait_s):
                self._publish(Changes(frozenset(run_ids)))


HeadsSince = Callable[[datetime], Mapping[str, int]]
"""Run id -> head seq of the runs whose last append is stamped at or after a time."""


class PollingChangeFeed(ChangeFeed):
    """Reads the heads of the runs that appended in the last ``lookback_s`` seconds every
    ``interval`` seconds, and reports new runs and those whose head moved (any store).
    After its first read, and a read after failed ones, it reports that any run may have
    changed."""

    def __init__(self, heads_since: HeadsSince, *, interval: float = 0.5, lookback_s: float = 60.0) -> None:
        super().__init__("ledgerflow change feed (poll)")
        self._heads_since = heads_since
        self._interval = interval
        self._lookback = timedelta(seconds=lookback_s)  # covers writers' clocks lagging

    def _watch(self) -> None:
        heads: Mapping[str, int] = {}
        failures = 0
        while not self._stopping.is_set():
            try:
                current = self._heads_since(datetime.now(UTC) - self._lookback)
            except StorageError as exc:
                self._ready.clear()
                failures += 1
                if failures == 1:
                    logger.warning("change feed: %s; retrying every %.1f s", exc, self._interval)
            else:
                if failures:
                    logger.info("change feed: polling again after %d failed reads", failures)
                if not self._ready.is_set():
                    self._ready.set()
                    self._publish(EVERYTHING)
                elif moved := frozenset(run for run, seq in current.items() if heads.get(run) != seq):
                    self._publish(Changes(moved))
                heads, failures = current, 0
            self._stopping.wait(self._interval)


def change_feed_for(storage: Storage) -> ChangeFeed:
    """The feed for the storage: notifications on PostgreSQL, else polling the runs' heads."""
    database = storage.database
    if database is None:
        log = storage.log
        return PollingChangeFeed(
            lambda since: {run.run_id: run.head_seq for run in log.runs() if run.updated_at >= since}
        )
    if database.dialect.name == "postgresql":
        return PostgresChangeFeed(database)
    return PollingChangeFeed(partial(run_heads_since, database))


router = APIRouter(prefix="/api/live", tags=["live"])
_EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}
}
KEEPALIVE = b": keepalive\n\n"
SUBSCRIBED = b": subscribed\n\n"


class EventStream(StreamingResponse):
    """A stream of server-sent events, never cached or buffered by proxies."""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[bytes]) -> None:
        super().__init__(content, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event: its name and JSON data."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@router.get("/runs", response_class=EventStream, responses=_EVENT_STREAM, status_code=200)
async def live_runs(ui: Context) -> EventStream:
    """Server-sent events ``runs``: ``{"run_ids": [...], "all": false}`` names the runs that
    changed (``"all": true``: any may have, refresh everything); at most 4 a second. A
    comment ``: subscribed`` starts the stream, ``: keepalive`` comments keep it open."""
    return EventStream(_runs_events(ui))


async def _runs_events(ui: UIContext) -> AsyncIterator[bytes]:
    with ui.feed.subscribe() as subscription:
        yield SUBSCRIBED
        async for changes in _paced(subscription):
            if changes is None:
                yield KEEPALIVE
            else:
                yield sse("runs", {"run_ids": sorted(changes.run_ids), "all": changes.everything})


@router.get("/runs/{run_id}", response_class=EventStream, responses=_EVENT_STREAM, status_code=200)
async def live_run(run_id: str, ui: Context) -> EventStream:
    """Server-sent events ``run``: ``{"id", "run_id", "head_seq", "state"}`` on connecting, then
    after every change of the run (at most 4 a second). Stays open when the run finishes (a
    restart continues it); ends if the run is archived. 404 for an unknown run."""
    await run_in_threadpool(ui.engine.storage.log.run, run_id)  # RunNotFound: 404
    return EventStream(_run_events(ui, run_id))


async def _run_events(ui: UIContext, run_id: str) -> AsyncIterator[bytes]:
    with ui.feed.subscribe() as subscription:  # before reading: no change falls in between
        shown = await _run_head(ui, run_id)
        if shown is None:
            return
        yield sse("run", shown)
        async for changes in _paced(subscription):
            if changes is None:
                yield KEEPALIVE
            elif changes.concerns(run_id):
                head = await _run_head(ui, run_id)
                if head is None:
                    return
                if head != shown:
                    shown = head
                    yield sse("run", shown)


async def _run_head(ui: UIContext, run_id: str) -> dict[str, Any] | None:
    """The run's id, head seq and state; None once it is gone (archived)."""
    try:
        run = await run_in_threadpool(ui.engine.storage.log.run, run_id)
    except RunNotFound:
        return None
    return {"id": run.id, "run_id": run.run_id, "head_seq": run.head_seq, "state": run.state}


async def _paced(subscription: Subscription) -> AsyncIterator[Changes | None]:
    """The subscription's changes, one per ``MIN_INTERVAL_S`` at most, None after
    ``KEEPALIVE_S`` without any; ends with the subscription."""
    while True:
        try:
            async with asyncio.timeout(KEEPALIVE_S):
                changes = await anext(subscription)
        except TimeoutError:
            yield None
            continue
        except StopAsyncIteration:  # the feed is closed
            return
        yield changes
        await asyncio.sleep(MIN_INTERVAL_S)
