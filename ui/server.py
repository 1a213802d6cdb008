"""Serving the app with uvicorn (in the foreground, or from a thread of another program)
so that it stops promptly with live streams open."""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from .context import UIContext


class UIServer(uvicorn.Server):
    """A uvicorn server that ends the app's live streams when it is asked to stop.

    uvicorn waits for open connections before it runs the app's shutdown; a browser's
    server-sent event stream never closes by itself, so the change feed is closed first,
    which ends every stream.
    """

    def __init__(self, app: FastAPI, **config: Any) -> None:
        super().__init__(uvicorn.Config(app, **config))
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Close the change feed (ending the streams), then shut down as uvicorn does."""
        ui = self._app.state.ui
        assert isinstance(ui, UIContext)
        ui.feed.close()
        await super().shutdown(sockets)


@contextmanager
def serving(app: FastAPI, host: str = "127.0.0.1", port: int = 0, **config: Any) -> Iterator[str]:
    """Serve ``app`` from a thread of this process (port 0: a free one); yields its base URL
    and stops the server on leaving, open live streams included.

    The socket listens before the server thread starts, so a client may connect at once:
    the connection waits in the backlog until the server accepts it.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)
    server = UIServer(app, **{"log_level": "warning", **config})
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        listener.close()
        if thread.is_alive():
            raise RuntimeError("the web UI server did not stop within 15 s")
