"""``--metrics-port`` and ``--metrics-host`` of the long-running commands (``worker``,
``scheduler``): serve Prometheus metrics while they run (see ``engine.metrics``)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from ..engine.api import Engine
from .errors import BadUsage

MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        metavar="PORT",
        min=0,
        max=65535,
        help="Serve Prometheus metrics on this port (GET /metrics), e.g. 9464; 0: a free port.",
        show_default=False,
    ),
]
MetricsHostOption = Annotated[
    str,
    typer.Option(
        "--metrics-host",
        metavar="ADDRESS",
        help="The address --metrics-port listens on (127.0.0.1: this machine only).",
    ),
]
DEFAULT_METRICS_HOST = "0.0.0.0"


@contextmanager
def serving_metrics(engine: Engine, port: int | None, host: str) -> Iterator[int | None]:
    """While inside, meter ``engine`` and serve its metrics on ``host:port`` (nothing when
    ``port`` is None); yields the port listened on. A port that cannot be listened on is bad
    usage."""
    if port is None:
        yield None
        return
    from ..engine.metrics import serve_metrics  # here: prometheus_client would slow every command

    try:
        server = serve_metrics(engine, port, host)
    except OSError as exc:
        reason = exc.strerror or exc
        raise BadUsage(f"--metrics-port {port}: cannot listen on {host}:{port}: {reason}") from None
    with server:
        yield server.port
