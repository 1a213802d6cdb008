"""``ledgerflow db``: manage the database schema, and make the event log append-only."""

import typer

from ..engine.home import ledgerflow_home
from ..storage import create_db_engine, upgrade
from ..storage.harden import harden
from .errors import BadUsage
from .options import DatabaseOption

db_app = typer.Typer(help="Manage the database: its schema, and hardening.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(database: DatabaseOption = None) -> None:
    """Create or upgrade the schema of the configured database to the latest revision."""
    engine = create_db_engine(database or None, ledgerflow_home())
    try:
        upgrade(engine)
        url = engine.url.render_as_string(hide_password=True)
    finally:
        engine.dispose()
    typer.echo(f"schema of {url} is up to date")


@db_app.command("harden")
def db_harden(database: DatabaseOption = None) -> None:
    """Make the events table append-only in PostgreSQL: a trigger refuses UPDATE, DELETE and
    TRUNCATE of events (appends and runs go on). PostgreSQL only."""
    engine = create_db_engine(database or None, ledgerflow_home())
    try:
        url = engine.url.render_as_string(hide_password=True)
        try:
            is_new = harden(engine)
        except ValueError as exc:
            raise BadUsage(str(exc)) from None
    finally:
        engine.dispose()
    state = "now" if is_new else "already"
    typer.echo(f"the events table of {url} is {state} append-only (UPDATE, DELETE, TRUNCATE refused)")
