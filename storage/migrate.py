"""Schema migrations run from code (no alembic.ini): upgrade, upgrade-on-first-use, and
the check of commands that only read (which never create a schema)."""

import functools
import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from .database import READ_ONLY, masked_url, retry_unavailable, translated_errors
from .errors import SchemaMissing

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_ID = 0x6C65646765726677  # "ledgerfw": serializes migrations across processes


def alembic_config(engine: sa.Engine | None = None) -> Config:
    """An Alembic config built in code, pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
        config.set_main_option("sqlalchemy.url", url)
    return config


@functools.cache
def head_revision() -> str:
    """The revision the packaged migrations lead to."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations packaged"
    return head


def current_revision(engine: sa.Engine) -> str | None:
    """The database's schema revision (None for an empty database)."""
    with (
        translated_errors(engine),
        engine.connect().execution_options(**{READ_ONLY: True}) as connection,
    ):
        return MigrationContext.configure(connection).get_current_revision()


@retry_unavailable
def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Upgrade the schema, holding a lock so concurrent processes do not collide."""
    _upgrade(engine, revision)


def _upgrade(engine: sa.Engine, revision: str) -> None:
    with translated_errors(engine), engine.begin() as connection:
        # SQLite: engine.begin() is BEGIN IMMEDIATE, which already serializes writers.
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        before = MigrationContext.configure(connection).get_current_revision()
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        after = MigrationContext.configure(connection).get_current_revision()
    if before != after:
        logger.info("upgraded schema of %s from %s to %s", engine.url, before, after)


@retry_unavailable
def ensure_schema(engine: sa.Engine) -> None:
    """Upgrade the schema unless it is already at head (a cheap check first)."""
    if current_revision(engine) != head_revision():
        _upgrade(engine, "head")


@retry_unavailable
def require_schema(engine: sa.Engine) -> None:
    """Upgrade an existing schema to head; raise ``SchemaMissing`` for a database without
    one (a SQLite file that does not exist is not created)."""
    database = engine.url.database
    is_file = (
        engine.dialect.name == "sqlite"
        and database not in (None, "", ":memory:")
        and engine.url.query.get("uri") != "true"
    )
    if is_file and not Path(str(database)).exists():
        raise SchemaMissing(masked_url(engine))
    revision = current_revision(engine)
    if revision is None:
        raise SchemaMissing(masked_url(engine))
    if revision != head_revision():
        _upgrade(engine, "head")
