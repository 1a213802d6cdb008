"""Where ledgerflow keeps its files, and the ids of new runs."""

import os
import uuid
from datetime import datetime
from pathlib import Path


def ledgerflow_home() -> Path:
    """``LEDGERFLOW_HOME``, or ``~/.ledgerflow``: where the embedded database and keys live."""
    return Path(os.environ.get("LEDGERFLOW_HOME") or Path.home() / ".ledgerflow")


def new_run_id(now: datetime) -> str:
    """A readable id that sorts by creation time: ``20261129-031500-1f3a9c0b``."""
    return f"{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
