"""``StoreCollector``: the figures of the whole store, read from its read models at each
Prometheus scrape (one indexed query each, see ``storage.figures``), so that every process
serving ``/metrics`` on one database shows the same."""

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..storage import StorageError, StoreFigures

logger = logging.getLogger(__name__)

SLOT_STATES = ("used", "waiting", "limit")
"""The ``state`` label of ``ledgerflow_limit_slots``."""


def _families() -> dict[str, GaugeMetricFamily]:
    return {
        "up": GaugeMetricFamily(
            "ledgerflow_database_up", "1 if this scrape read the store's figures, 0 if it could not."
        ),
        "in_progress": GaugeMetricFamily(
            "ledgerflow_runs_in_progress", "Runs RUNNING now, with a live driver (across the database)."
        ),
        "waiting": GaugeMetricFamily(
            "ledgerflow_runs_waiting", "SCHEDULED runs no worker has claimed yet, by queue.", labels=["queue"]
        ),
        "slots": GaugeMetricFamily(
            "ledgerflow_limit_slots",
            "Concurrency limits by tag: slots used, tasks waiting for one, and the limit.",
            labels=["tag", "state"],
        ),
        "heartbeats": GaugeMetricFamily(
            "ledgerflow_worker_heartbeat_age_seconds",
            "Seconds since each worker registered as running last heartbeated (for a day at most).",
            labels=["worker"],
        ),
    }


class StoreCollector(Collector):
    """Reads ``figures`` at each scrape; a store that cannot be read gives
    ``ledgerflow_database_up 0`` and nothing else (the scrape itself succeeds)."""

    def __init__(
        self, figures: StoreFigures, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._figures = figures
        self._clock = clock

    def describe(self) -> Iterator[Metric]:
        """The families, without reading the store (the registry asks when registering)."""
        yield from _families().values()

    def collect(self) -> Iterator[Metric]:
        """The families with their values now."""
        found = _families()
        now = self._clock()
        figures = self._figures
        try:
            in_progress = figures.runs_in_progress(now)
            waiting = figures.runs_waiting(now)
            slots = figures.tag_slots(now)
            heartbeats = figures.heartbeats(now)
        except StorageError as exc:
            logger.warning("metrics: cannot read the store's figures: %s", exc)
            found["up"].add_metric([], 0)
            yield found["up"]
            return
        found["up"].add_metric([], 1)
        found["in_progress"].add_metric([], in_progress)
        for queue, count in sorted(waiting.items()):
            found["waiting"].add_metric([queue], count)
        for tag in slots:
            for state, value in zip(SLOT_STATES, (tag.used, tag.waiting, tag.limit), strict=True):
                found["slots"].add_metric([tag.tag, state], value)
        for worker, at in sorted(heartbeats.items()):
            found["heartbeats"].add_metric([worker], max(0.0, (now - at).total_seconds()))
        yield from found.values()
