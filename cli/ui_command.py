"""``ledgerflow ui``: serve the web UI and its JSON API with uvicorn."""

import ipaddress
from typing import Annotated

import typer

from .errors import BadUsage
from .log_format import is_json, say
from .options import DatabaseOption

TOKEN_ENV = "LEDGERFLOW_UI_TOKEN"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
"""Host headers a loopback server without a token accepts (besides --host itself)."""


def is_loopback(host: str) -> bool:
    """True if ``host`` is a loopback address or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ui(
    host: Annotated[str, typer.Option("--host", help="The address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="The port to bind.")] = 8080,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", envvar=TOKEN_ENV, show_default=False,
            help=f"Require this token (bearer or login cookie) for every request (env {TOKEN_ENV}).",
        ),
    ] = None,
    allow_remote_without_token: Annotated[
        bool,
        typer.Option("--allow-remote-without-token", help="Serve a non-loopback address with no token."),
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Serve the web UI and its JSON API (under /api, schema at /openapi.json) until interrupted.

    Binds to loopback by default. Without a token it accepts only loopback Host headers,
    and refuses a non-loopback --host unless --allow-remote-without-token is given."""
    if token and not token.strip():
        raise BadUsage(f"--token (or {TOKEN_ENV}) is only whitespace: give a real token, or none")
    is_local = is_loopback(host)
    if not is_local and not token and not allow_remote_without_token:
        raise BadUsage(
            f"--host {host} is not a loopback address and no token is set: set {TOKEN_ENV} "
            "(or --token), or pass --allow-remote-without-token to serve it open"
        )
    # Imported here: FastAPI and uvicorn would slow the start of every other command.
    from ..ui import create_app
    from ..ui.server import UIServer

    allowed_hosts = [*LOOPBACK_HOSTS, host] if is_local and not token else None
    app = create_app(database or None, token=token or None, allowed_hosts=allowed_hosts)
    auth = "token required" if token else "no token: loopback Host headers only" if is_local else "NO TOKEN"
    say(f"serving http://{host}:{port} ({auth})")
    own_logging = {"log_config": None} if is_json() else {}  # JSON: uvicorn logs through the root logger
    UIServer(app, host=host, port=port, log_level="info", **own_logging).run()
