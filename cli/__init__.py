"""The ``ledgerflow`` command line: run flows, list and inspect runs, verify and replay logs."""

from .app import app, main

__all__ = ["app", "main"]
