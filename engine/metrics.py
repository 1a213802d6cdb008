"""Prometheus metrics: the families this process counts, and serving them with the figures of
the whole store on ``/metrics`` (``ledgerflow worker --metrics-port``, ``ledgerflow scheduler
--metrics-port``; the web UI serves its own).

What the process counts comes from the events it appends (see ``event_meter``), through its
storage's log wrapped by ``MeteredLog``; what describes the whole store (runs in progress and
waiting, slots, heartbeats) is read from the read models at each scrape (``store_collector``).
Every family is documented in the README, with an alert to set on it.
"""

import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    start_http_server,
)

from ..storage import Storage
from .event_meter import EventMeter
from .event_tallies import EventTallies
from .metered_log import MeteredLog
from .store_collector import StoreCollector

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from .api import Engine

APPEND_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
"""Buckets of a log append (one transaction): a fraction of a millisecond to a stalled database."""


class ProcessMetrics:
    """The families counted in this process, registered on ``registry``: per event appended
    (``tallies``), and per append."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.tallies = EventTallies()
        registry.register(self.tallies)
        self.log_append = Histogram(
            "ledgerflow_log_append_seconds", "Seconds per append transaction of the event log "
            "(one run's, or a group commit of many).", buckets=APPEND_SECONDS, registry=registry,
        )  # fmt: skip
        self.log_appends = Counter(
            "ledgerflow_log_appends", "Batches of events a run appended, by outcome (appended; "
            "conflict: another writer or a lost lease; failed).", ["outcome"], registry=registry,
        )  # fmt: skip
        self.log_events = Counter(
            "ledgerflow_log_events_appended", "Events appended to the log.", registry=registry
        )


def metrics_registry(storage: Storage) -> CollectorRegistry:
    """A registry with this process's resource use (memory, CPU, file descriptors, garbage
    collection) and the figures of ``storage``'s whole store, read at each scrape."""
    registry = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    registry.register(StoreCollector(storage.figures()))
    return registry


def meter(engine: "Engine", registry: CollectorRegistry) -> ProcessMetrics:
    """Count what ``engine`` appends from now on into families registered on ``registry``."""
    metrics = ProcessMetrics(registry)
    engine.storage = replace(engine.storage, log=MeteredLog(engine.storage.log, EventMeter(metrics)))
    return metrics


@dataclass(frozen=True, slots=True)
class MetricsServer:
    """``/metrics`` served over HTTP from a thread of this process; ``close`` stops it."""

    server: "WSGIServer"
    thread: threading.Thread
    registry: CollectorRegistry
    metrics: ProcessMetrics

    @property
    def port(self) -> int:
        """The port it listens on (the one asked for, or the free one port 0 found)."""
        return self.server.server_port

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> "MetricsServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def serve_metrics(engine: "Engine", port: int, host: str = "0.0.0.0") -> MetricsServer:
    """Meter ``engine`` and serve its metrics and its store's figures on ``host:port``
    (``/metrics``; any path answers the same); raises ``OSError`` if the port is taken."""
    registry = metrics_registry(engine.storage)
    metrics = meter(engine, registry)
    server, thread = start_http_server(port, host, registry)
    return MetricsServer(server, thread, registry, metrics)
