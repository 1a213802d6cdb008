"""Built-in hooks (``lf.notify``): post a run's news to a Slack incoming webhook or any URL.

Both post with httpx and carry ``Idempotency-Key: <run id>:<trigger seq>:<hook name>``, the
same on every attempt. A connection error or an HTTP 5xx raises and the delivery is retried
(tenacity, by the notifier's ``HookRetry``); an HTTP 4xx raises ``HookRejected`` and is not.
The URL (a Slack webhook URL is a secret) never appears in a hook's name or error.
"""

from collections.abc import Mapping
from typing import Any

import httpx

from .hooks import HookContext, HookRejected, HookRetry

__all__ = ["HookContext", "HookRejected", "HookRetry", "Notifier", "slack", "webhook"]


class DeliveryFailed(Exception):
    """The receiver could not take the message now (HTTP 5xx, no connection): retried."""


class Notifier:
    """A hook that posts JSON to a URL; ``hook_name`` names it in the log."""

    def __init__(
        self, hook_name: str, url: str, *, headers: Mapping[str, str] | None, timeout: float,
        retry: HookRetry | None,
    ) -> None:  # fmt: skip
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"lf.notify.{hook_name}: the URL must start with http:// or https://")
        if timeout <= 0:
            raise ValueError(f"lf.notify.{hook_name}: timeout must be > 0 seconds, not {timeout!r}")
        self.hook_name = hook_name
        self.retry = retry or HookRetry()
        self._url = url
        self._headers = dict(headers or {})
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"<lf.notify.{self.hook_name}>"

    def body(self, ctx: HookContext) -> dict[str, Any]:
        """The JSON object posted for ``ctx``."""
        return ctx.as_dict()

    def __call__(self, ctx: HookContext) -> None:
        headers = {**self._headers, "Idempotency-Key": ctx.idempotency_key}
        try:
            response = httpx.post(self._url, json=self.body(ctx), headers=headers, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{self.hook_name}: {self._hidden(exc)}") from None
        if response.status_code >= 500:
            raise DeliveryFailed(f"{self.hook_name} answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise HookRejected(f"{self.hook_name} refused the message: HTTP {response.status_code}")

    def _hidden(self, exc: Exception) -> str:
        """The error, without the URL."""
        return f"{type(exc).__name__}: {exc}".replace(self._url, "<url>")


class _Slack(Notifier):
    def body(self, ctx: HookContext) -> dict[str, Any]:
        return {"text": ctx.text}


def slack(webhook_url: str, *, timeout: float = 10.0, retry: HookRetry | None = None) -> Notifier:
    """A hook posting the message (``{"text": ...}``) to a Slack incoming webhook."""
    return _Slack("slack", webhook_url, headers=None, timeout=timeout, retry=retry)


def webhook(
    url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 10.0,
    retry: HookRetry | None = None,
) -> Notifier:  # fmt: skip
    """A hook posting the ``HookContext`` fields (and the message, ``text``) as JSON to ``url``."""
    return Notifier("webhook", url, headers=headers, timeout=timeout, retry=retry)
