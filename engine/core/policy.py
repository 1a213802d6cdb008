"""What the machine needs to know of a task's definition: plain data, no user code."""

from dataclasses import dataclass
from typing import Protocol


class RetryTiming(Protocol):
    """A task's retry policy as the machine reads it (``engine.retry.RetryPolicy`` is one)."""

    @property
    def retries(self) -> int:
        """Extra attempts the task gets after a retryable failure."""
        ...

    def allows_another(self, attempt: int) -> bool:
        """Whether a failed ``attempt`` (1-based) may be followed by another one."""
        ...

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed ``attempt`` before the next one."""
        ...


@dataclass(frozen=True, slots=True)
class TaskPolicy:
    """How the machine treats one task of the graph (a mapped task's children share it).

    ``tags``: the concurrency-limited tags it takes slots of; ``is_cacheable``: it has a
    ``cache_key`` function (its key is computed outside the machine); ``cache_expiration``:
    seconds a cache entry it writes stays valid (None: for ever).
    """

    retry: RetryTiming
    tags: tuple[str, ...] = ()
    is_cacheable: bool = False
    cache_expiration: float | None = None
