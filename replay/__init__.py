"""Replay: reading the log back (point-in-time state, verification)."""

from .verify import VerifyReport, verify_events, verify_run

__all__ = ["VerifyReport", "verify_events", "verify_run"]
