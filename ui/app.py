"""``create_app``: the web app (JSON API under ``/api``, login, CSRF) on one database."""

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ..engine.api import Engine
from ..engine.version import ENGINE_VERSION
from . import actions, api, auth, live, pages
from .context import UIContext
from .drives import Drives
from .errors import install_error_handlers
from .metrics import install_metrics


def create_app(
    source: str | Callable[[], Engine] | None = None,
    *,
    token: str | None = None,
    allowed_hosts: Sequence[str] | None = None,
    max_drives: int = 4,
) -> FastAPI:
    """The web app on a database URL (None: ``LEDGERFLOW_DATABASE_URL`` or the embedded
    SQLite) or on an engine factory (called once for reads, and once per resume or restart).

    With ``token``, every request needs it as a bearer token or a login cookie (see
    ``ui.auth``); actions always need the CSRF header. ``allowed_hosts`` refuses requests
    whose Host header names another host (against DNS rebinding when there is no token).
    At most ``max_drives`` resumes and restarts are driven at once.
    """
    factory: Callable[[], Engine] = source if callable(source) else (lambda: Engine(source))
    reads = factory()
    ui = UIContext(reads, Drives(factory, max_drives), live.change_feed_for(reads.storage))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        ui.feed.start()
        yield
        ui.close()

    app = FastAPI(
        title="ledgerflow",
        version=ENGINE_VERSION,
        description="Runs, their event logs, workers, limits and schedules; actions on runs.",
        docs_url=None,  # the interactive docs load scripts from a CDN: nothing is fetched at run time
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ui = ui
    app.state.sessions = auth.Sessions(token)
    app.add_middleware(auth.AuthMiddleware, sessions=app.state.sessions)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    install_error_handlers(app)
    app.include_router(auth.router)
    app.include_router(api.router)
    app.include_router(actions.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static")
    app.include_router(live.router)
    install_metrics(app, reads.storage)
    return app
