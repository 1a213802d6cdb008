"""Alembic environment: runs on the connection ``storage.migrate`` passes in."""

from alembic import context
from sqlalchemy import Connection, create_engine

from ledgerflow.storage.schema import metadata

config = context.config


def run_migrations() -> None:
    """Migrate on the given connection (inside its transaction), or on the configured URL."""
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as own:
            _run(own)
        engine.dispose()
        return
    _run(connection)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations()
