"""The Dask executor's watch over resources: a task whose resources no worker offers for
``timeout`` seconds is given up (it ends FAILED), instead of waiting in Dask forever."""

import logging
import threading
import time
from collections.abc import Callable

import distributed

from .dask_tasks import Pending, is_enough

logger = logging.getLogger(__name__)


class ResourceWatch:
    """A background thread, running while some pending Dask task needs resources.

    ``watched()`` gives the pending tasks that need resources; ``give_up(entry, reason)``
    ends one whose resources nobody offered for ``timeout`` seconds.
    """

    def __init__(
        self,
        client: distributed.Client,
        timeout: float,
        watched: Callable[[], list[Pending]],
        give_up: Callable[[Pending, str], None],
        closed: threading.Event,
    ) -> None:
        self._client, self._timeout = client, timeout
        self._watched, self._give_up, self._closed = watched, give_up, closed
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Watch, if no thread does already."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="ledgerflow-dask-resources", daemon=True
                )
                self._thread.start()

    def _watch(self) -> None:
        interval = min(1.0, self._timeout / 4)
        while not self._closed.wait(interval):
            with self._lock:
                watched = self._watched()
                if not watched:
                    self._thread = None
                    return
            offers = self._offers()
            for entry in watched:
                self._check(entry, offers)

    def _offers(self) -> dict[str, dict[str, float]]:
        try:
            workers = self._client.scheduler_info(n_workers=-1).get("workers", {})
        except Exception:  # scheduler unreachable: nobody offers anything
            return {}
        return {address: dict(info.get("resources") or {}) for address, info in workers.items()}

    def _check(self, entry: Pending, offers: dict[str, dict[str, float]]) -> None:
        now = time.monotonic()
        if any(is_enough(offer, entry.resources) for offer in offers.values()):
            entry.unmet_since = None
            return
        if entry.unmet_since is None:
            entry.unmet_since = now
        if now - entry.unmet_since < self._timeout:
            return
        wanted = ", ".join(f"{name}={amount:g}" for name, amount in entry.resources.items())
        offered = "; ".join(f"{address}: {offer or 'none'}" for address, offer in offers.items())
        reason = (
            f"no Dask worker offers the resources it needs ({wanted}) after waiting "
            f"{self._timeout:g} s; workers offer: {offered or 'no workers'}"
        )
        logger.warning("Dask task %s: %s", entry.dask_future.key, reason)
        self._give_up(entry, reason)
