"""Where a run's driver gets the time it records."""

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Where a run's driver gets the time it records."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's UTC clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)
