"""The engine version recorded in every run.created event and export header."""

ENGINE_VERSION = "0.1.0"
