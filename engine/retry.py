"""Retry policy of a task: how many attempts, and how long to wait (tenacity strategies)."""

from dataclasses import dataclass

import tenacity


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``retries`` extra attempts; the n-th retry waits delay * backoff**(n-1) + U(0, jitter)."""

    retries: int = 0
    delay: float = 0.0
    backoff: float = 1.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.retries < 0 or self.delay < 0 or self.backoff < 1 or self.jitter < 0:
            raise ValueError(
                "retries, retry_delay and retry_jitter must be >= 0 and retry_backoff >= 1"
            )

    def allows_another(self, attempt: int) -> bool:
        """Whether a failed ``attempt`` (1-based) may be followed by another one."""
        return attempt <= self.retries

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed ``attempt`` (1-based) before the next one."""
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempt
        return float(self._wait()(state))

    def _wait(self) -> tenacity.wait.wait_base:
        if self.backoff == 1:
            base: tenacity.wait.wait_base = tenacity.wait_fixed(self.delay)
        else:
            base = tenacity.wait_exponential(multiplier=self.delay, exp_base=self.backoff, max=1e9)
        if self.jitter:
            return base + tenacity.wait_random(0, self.jitter)
        return base
