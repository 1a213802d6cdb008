"""Exceptions a task body may raise to tell the engine something other than failure."""


class Skip(Exception):
    """Raise inside a task to end it as SKIPPED (downstream all_successful tasks skip too)."""


class TaskTimeout(TimeoutError):
    """An attempt ran longer than its task's ``timeout=``."""
