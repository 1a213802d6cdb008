"""Errors as HTTP answers: ``{"detail": message}`` with 404, 409, 422 or 503 by kind."""

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

from ..engine.core.errors import LedgerflowError
from ..engine.errors import GraphChanged, InvalidParameter, RunNotFinished, UnknownTask
from ..engine.flow_ref import FlowNotFound
from ..storage import AppendConflict, RunNotFound, ScheduleNotFound, StorageUnavailable
from ..storage.names import InvalidName

STATUS_BY_ERROR: tuple[tuple[type[LedgerflowError], int], ...] = (
    (RunNotFound, 404),
    (ScheduleNotFound, 404),
    (UnknownTask, 404),
    (RunNotFinished, 409),
    (GraphChanged, 409),
    (FlowNotFound, 409),  # the server cannot import the run's flow: it cannot drive it
    (InvalidParameter, 409),  # e.g. a secret parameter missing from the server's environment
    (AppendConflict, 409),
    (StorageUnavailable, 503),
    (InvalidName, 422),  # a tag or schedule name that cannot be used
)


def status_for(error: LedgerflowError) -> int:
    """The HTTP status of an error (500 for one the table does not name)."""
    return next((status for kind, status in STATUS_BY_ERROR if isinstance(error, kind)), 500)


async def _answer(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LedgerflowError)
    return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=status_for(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Answer every ``LedgerflowError`` with its status and message."""
    app.add_exception_handler(LedgerflowError, _answer)
