"""Waking an idle worker the moment a run becomes claimable, on PostgreSQL (LISTEN/NOTIFY:
see ``storage.claim_notices``); the worker's poll stays as the fallback, and is all a
SQLite database has."""

import logging
import threading
from collections.abc import Callable
from typing import Self

from ..storage import ClaimListener, Storage, StorageError, can_listen

logger = logging.getLogger(__name__)

BACKOFF_SECONDS = (0.5, 10.0)
"""The first and the longest wait before listening again after the connection failed."""
STOP_CHECK_SECONDS = 0.5
"""How often the listening thread looks whether it should stop."""


class ClaimWakeups:
    """A thread that listens for runs becoming claimable on a connection of its own and
    calls ``wake`` after each batch of notifications, and each time it starts listening (a
    run announced while it was not listening is claimed then). If the connection fails it
    listens again after a wait that doubles up to ``BACKOFF_SECONDS[1]``; meanwhile the
    worker polls."""

    def __init__(self, storage: Storage, wake: Callable[[], None]) -> None:
        assert storage.database is not None
        self._database = storage.database
        self._wake = wake
        self.listening = threading.Event()  # set while notifications would reach ``wake``
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="ledgerflow-claim-wakeups", daemon=True)

    @classmethod
    def started(cls, storage: Storage, wake: Callable[[], None]) -> Self | None:
        """Listening on ``storage`` (None if its database has no notifications)."""
        if not can_listen(storage.database):
            return None
        wakeups = cls(storage, wake)
        wakeups._thread.start()
        return wakeups

    def stop(self) -> None:
        """Stop listening (closes the connection)."""
        self._stopping.set()
        self._thread.join()

    def _listen(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                with ClaimListener(self._database) as listener:
                    if failures:
                        logger.info("listening for claimable runs again after %d failed attempts", failures)
                    failures = 0
                    self.listening.set()
                    self._wake()
                    while not self._stopping.is_set():
                        if listener.claimable_runs(STOP_CHECK_SECONDS):
                            self._wake()
            except StorageError as exc:
                self.listening.clear()
                failures += 1
                first, longest = BACKOFF_SECONDS
                delay = min(first * 2 ** (failures - 1), longest)
                logger.warning("%s; polling meanwhile, listening again in %.1f s", exc, delay)
                self._stopping.wait(delay)
        self.listening.clear()
