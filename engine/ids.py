"""Identifiers used across the engine."""

from typing import NewType

RunId = NewType("RunId", str)
TaskKey = NewType("TaskKey", str)
