"""Serving the app with uvicorn so that it stops promptly with live streams open."""

import socket
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
