"""The web app: a JSON API over runs, their logs, workers, limits and schedules, with
token and CSRF checks (``ledgerflow ui`` serves it)."""

from .app import create_app
from .auth import CSRF_HEADER, SESSION_COOKIE, Sessions

__all__ = ["CSRF_HEADER", "SESSION_COOKIE", "Sessions", "create_app"]
