"""Crash tests: real child processes, real SIGKILL/SIGSTOP, resumed from the log."""
