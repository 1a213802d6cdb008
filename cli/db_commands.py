"""``ledgerflow db``: manage the database schema."""

import typer

from ..engine.api import ledgerflow_home
from ..storage import create_db_engine, upgrade
from .options import DatabaseOption

db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


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
