"""``ledgerflow ui``: loopback by default, a token for anything else, served by uvicorn."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerflow.cli import app
from ledgerflow.cli.ui_command import is_loopback
from ledgerflow.ui.server import UIServer


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The app, host and port the server was configured with (it is not started)."""
    calls: dict[str, Any] = {}

    def run(server: UIServer) -> None:
        calls.update(app=server.config.app, host=server.config.host, port=server.config.port)

    monkeypatch.setattr(UIServer, "run", run)
    return calls


def test_serves_on_loopback_and_refuses_foreign_hosts_without_a_token(
    served: dict[str, Any], database_url: str
) -> None:
    result = CliRunner().invoke(app, ["ui", "--port", "9123", "--database", database_url])
    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"]) == ("127.0.0.1", 9123)
    with TestClient(served["app"], base_url="http://127.0.0.1:9123") as client:
        assert client.get("/api/runs").status_code == 200
        assert client.get("/api/runs", headers={"Host": "evil.example"}).status_code == 400


def test_a_remote_host_needs_a_token(served: dict[str, Any], database_url: str) -> None:
    refused = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0", "--database", database_url])
    assert refused.exit_code == 2 and "LEDGERFLOW_UI_TOKEN" in refused.output
    assert served == {}
    done = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0", "--database", database_url],
                              env={"LEDGERFLOW_UI_TOKEN": "t0ken"})  # fmt: skip
    assert done.exit_code == 0, done.output
    with TestClient(served["app"]) as client:
        assert client.get("/api/runs").status_code == 401
        assert client.get("/api/runs", headers={"Authorization": "Bearer t0ken"}).status_code == 200


def test_loopback_hosts() -> None:
    assert all(map(is_loopback, ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2")))
    assert not any(map(is_loopback, ("0.0.0.0", "10.0.0.1", "example.com")))
