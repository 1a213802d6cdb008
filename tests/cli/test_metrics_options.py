"""``--metrics-port`` of the long-running commands: served while they run, and a port that
cannot be listened on is bad usage."""

import socket

import pytest

from .conftest import Invoke


@pytest.mark.parametrize("command", [("scheduler", "--once"), ("worker", "--once")])
def test_the_command_says_where_it_serves_metrics(cli: Invoke, command: tuple[str, ...]) -> None:
    done = cli(*command, "--metrics-port", "0", "--metrics-host", "127.0.0.1")
    assert done.exit_code == 0, done.output
    assert "serves metrics on http://127.0.0.1:" in done.output


def test_a_port_in_use_is_bad_usage(cli: Invoke) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("worker", "--once", "--metrics-port", str(port), "--metrics-host", "127.0.0.1")
    assert done.exit_code == 2
    assert f"--metrics-port {port}: cannot listen on 127.0.0.1:{port}" in done.output
