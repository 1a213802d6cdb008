"""``ledgerflow health``: can this process reach its database and its Dask scheduler? For
container probes: one line per check, exit 0 when every check passes, 1 otherwise."""

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from ..engine.home import ledgerflow_home
from ..storage import StorageError, create_db_engine
from ..storage.database import masked_url
from ..storage.migrate import current_revision, head_revision
from .errors import EXIT_FAILED
from .options import DatabaseOption, console, dask_address_option

DEFAULT_TIMEOUT_S = 5.0
_NO_SCHEMA = "no ledgerflow schema yet: `ledgerflow db upgrade` creates it"


@dataclass(frozen=True, slots=True)
class Check:
    """The answer of one check: what was checked, whether it passed, and what was seen."""

    subject: str
    is_ok: bool
    detail: str

    def line(self) -> str:
        """``subject: ok (detail)`` or ``subject: UNREACHABLE (detail)``."""
        return f"{self.subject}: {'ok' if self.is_ok else 'UNREACHABLE'} ({self.detail})"


def check_database(url: str | None) -> Check:
    """Connect to the database (within its connect timeout) and read its schema revision."""
    engine = create_db_engine(url, ledgerflow_home())
    subject = f"database {masked_url(engine)}"
    path = engine.url.database
    if engine.url.get_backend_name() == "sqlite" and path and path != ":memory:" and not Path(path).exists():
        engine.dispose()  # connecting would create the file: a probe creates nothing
        return Check(subject, True, _NO_SCHEMA)
    try:
        revision = current_revision(engine)
    except StorageError as exc:
        return Check(subject, False, " ".join(str(exc).split()))
    finally:
        engine.dispose()
    if revision is None:
        return Check(subject, True, _NO_SCHEMA)
    expected = head_revision()
    if revision != expected:
        return Check(
            subject, True, f"schema {revision}, this ledgerflow's is {expected}: run `ledgerflow db upgrade`"
        )
    return Check(subject, True, f"schema {revision}")


def check_dask_scheduler(address: str, timeout: float) -> Check:
    """Ask the Dask scheduler at ``address`` who it is: connect within ``timeout`` seconds,
    and answer within as long again."""
    subject = f"dask scheduler {address}"
    try:
        identity = asyncio.run(asyncio.wait_for(_identity(address, timeout), 2 * timeout))
    except TimeoutError:  # connected, but no answer
        return Check(subject, False, f"connected, no answer within {timeout:g}s")
    except (OSError, ValueError) as exc:  # refused or timed out connecting, unknown host, bad address
        return Check(subject, False, str(exc))
    if identity.get("type") != "Scheduler":
        return Check(subject, False, f"it answers as a {identity.get('type')}, not a scheduler")
    workers = len(identity.get("workers", {}))
    return Check(subject, True, f"{workers} worker{'' if workers == 1 else 's'}")


async def _identity(address: str, timeout: float) -> dict[str, Any]:
    # Imported here: Dask would slow the start of every other command.
    from distributed.core import rpc

    # Dask's rpc is untyped; its timeout bounds connecting.
    async with rpc(address, timeout=timeout) as scheduler:  # type: ignore[no-untyped-call]
        found: dict[str, Any] = await scheduler.identity()
        return found


def health(
    dask_address: Annotated[
        str | None,
        dask_address_option("Also check the Dask scheduler at this address (tcp://host:port)."),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            min=0.1,
            max=600,
            help="How long Dask may take to connect (and as long again to answer).",
        ),
    ] = DEFAULT_TIMEOUT_S,
    database: DatabaseOption = None,
) -> None:
    """Check that the database answers (and report its schema revision) and, when an address
    is given, that the Dask scheduler answers (and how many workers it has). For container
    probes: exits 0 when every check passes, 1 naming what is unreachable."""
    checks = [check_database(database or None)]
    if dask_address:
        checks.append(check_dask_scheduler(dask_address, timeout))
    out = console()
    for check in checks:
        out.print(check.line(), markup=False, highlight=False, soft_wrap=True)
    failed = [check.subject for check in checks if not check.is_ok]
    if failed:
        console(stderr=True).print(
            f"unhealthy: {' and '.join(failed)} unreachable", style="red", markup=False, highlight=False
        )
        raise typer.Exit(EXIT_FAILED)
