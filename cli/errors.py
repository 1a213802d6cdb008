"""Errors of the command line, and the exit code each kind of error gets."""

from ..engine.core.errors import LedgerflowError
from ..engine.core.fire_times import InvalidSchedule
from ..engine.errors import FlowDefinitionError, InvalidParameter, RunNotFinished, UnknownTask
from ..engine.flow_ref import FlowNotFound
from ..results.sinks import ResultStorageInvalid
from ..storage import RunNotFound, ScheduleExists, ScheduleNotFound
from ..storage.errors import ConnectionFailed, DatabaseNotFound, InvalidDatabaseURL, SchemaMissing
from ..storage.names import InvalidName

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class BadUsage(LedgerflowError):
    """The command line asks for something that cannot be done as written."""


class ParameterError(BadUsage):
    """A ``-p key=value`` option is malformed, unknown, or does not convert to its annotation."""

    def __init__(self, flow: str, name: str, reason: str) -> None:
        self.flow = flow
        self.name = name
        super().__init__(f"parameter {name!r} of flow {flow!r}: {reason}")


USAGE_ERRORS: tuple[type[LedgerflowError], ...] = (
    BadUsage,
    ConnectionFailed,
    DatabaseNotFound,
    FlowDefinitionError,
    FlowNotFound,
    InvalidDatabaseURL,
    InvalidName,
    InvalidParameter,
    InvalidSchedule,
    ResultStorageInvalid,
    RunNotFinished,
    RunNotFound,
    ScheduleExists,
    ScheduleNotFound,
    SchemaMissing,
    UnknownTask,
)


def exit_code_for(error: LedgerflowError) -> int:
    """2 for what the user typed or wrote (bad flow reference, flow body, parameter, run id,
    task key, database URL that cannot work, or a restart of an unfinished run); 1 for the
    rest (a changed graph, a database unreachable for now)."""
    return EXIT_USAGE if isinstance(error, USAGE_ERRORS) else EXIT_FAILED
