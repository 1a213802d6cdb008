"""Errors raised at the storage boundary; driver errors are chained with ``from``."""

from ..results.errors import ResultNotLoadable as ResultNotLoadable
from ..results.errors import ResultNotSerializable as ResultNotSerializable
from ..results.errors import StorageError as StorageError


class StorageUnavailable(StorageError):
    """The database cannot be reached (retried with backoff, then raised)."""


class AppendConflict(StorageError):
    """Another writer appended to the run first: stop driving it."""

    def __init__(self, run_id: str, expected_seq: int, message: str | None = None) -> None:
        self.run_id = run_id
        self.expected_seq = expected_seq
        super().__init__(
            message
            or f"run {run_id}: another writer appended after seq {expected_seq}; "
            "this process must stop driving the run (resume it to take it over)"
        )


class RunNotFound(StorageError):
    """No run with this id exists in the database."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"no run with id {run_id!r} in this database (see `ledgerflow runs`)")


class CorruptEvent(StorageError):
    """A stored event row cannot be decoded (bad JSON, unknown type)."""

    def __init__(self, run_id: str, seq: int, reason: str) -> None:
        self.run_id = run_id
        self.seq = seq
        super().__init__(f"run {run_id}, seq {seq}: stored event is corrupt: {reason}")


class ResultNotFound(StorageError):
    """A result reference points at nothing in the result store."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        super().__init__(f"result {ref!r} is missing from the result store")


class ResultRefused(StorageError):
    """A pickled result's signature does not match: it was altered or signed with another key."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        super().__init__(
            f"result {ref!r} was refused: its HMAC signature does not match "
            "(altered, or written with another LEDGERFLOW_RESULT_KEY)"
        )


class InvalidAppend(StorageError):
    """An append was malformed (not the engine's races, its bugs): nothing was written."""

    def __init__(self, run_id: str, reason: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id}: append refused: {reason}")


class PayloadNotJSON(StorageError):
    """An event payload holds a value JSON cannot represent exactly."""

    def __init__(self, type_name: str, reason: str) -> None:
        self.type_name = type_name
        super().__init__(
            f"event payload is not plain JSON: {reason} (offending type: {type_name}); "
            "payloads may hold only dict (str keys), list, str, int, float, bool and None"
        )


class InvalidDatabaseURL(StorageError):
    """The database URL cannot be parsed, names no database, or names an unsupported one."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"invalid database URL {url!r}: {reason}")


class DatabaseNotFound(StorageError):
    """The server has no database of the URL's name (not retried)."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        super().__init__(
            f"database {name!r} does not exist on the server of {url}: create it "
            f"(e.g. `createdb {name}`) or fix --database / LEDGERFLOW_DATABASE_URL"
        )


class ConnectionFailed(StorageError):
    """Connecting failed in a way retrying cannot fix: an unknown host or user, bad
    credentials (transient failures raise ``StorageUnavailable`` instead)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            f"cannot connect to the database at {url}: {reason} (not retried: check the URL "
            "and credentials, --database / LEDGERFLOW_DATABASE_URL)"
        )


class SchemaMissing(StorageError):
    """A command that only reads found a database without ledgerflow's schema."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"no ledgerflow database at {url} (nothing was recorded there yet): run a flow, "
            "or create the schema with `ledgerflow db upgrade`"
        )


class ScheduleNotFound(StorageError):
    """No schedule with this name exists in the database."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no schedule named {name!r} in this database (see `ledgerflow schedule list`)")


class ScheduleExists(StorageError):
    """A schedule with this name exists already."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"a schedule named {name!r} exists already: remove it first "
            f"(`ledgerflow schedule remove {name}`) or choose another name"
        )


class DatabaseRequired(StorageError):
    """A feature that needs a SQL database was asked of in-memory storage (``memory://``)."""

    def __init__(self, feature: str, url: str) -> None:
        self.feature = feature
        self.url = url
        super().__init__(
            f"{feature} is not available on {url}: it needs a database "
            "(sqlite:///PATH/TO/FILE.db or postgresql://USER@HOST:PORT/DATABASE)"
        )
