"""Leases in SQL: CRASHED is never stored, a rebuild keeps live leases, and racing processes
never claim a run twice, on SQLite and PostgreSQL (the port's behaviour: ``contract/``)."""

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from ledgerflow.storage import Storage, rebuild_read_model
from ledgerflow.storage.schema import runs

from .builders import TTL, at, crashed_runs, execute, unleased_run


def stored_state(storage: Storage, run_id: str) -> str:
    with storage.database.connect() as connection:
        state = connection.execute(sa.select(runs.c.state).where(runs.c.run_id == run_id)).scalar_one()
    assert isinstance(state, str)
    return state


def test_crashed_is_derived_at_read_time_and_never_stored(storage: Storage) -> None:
    unleased_run(storage, "dead")
    storage.log.take_over("dead", "a", TTL, now=at(0))
    assert storage.log.run("dead", now=at(TTL + 1)).state == "CRASHED"
    assert stored_state(storage, "dead") == "RUNNING"


def test_rebuild_keeps_live_leases(storage: Storage) -> None:
    unleased_run(storage, "a")
    unleased_run(storage, "b")
    storage.log.take_over("a", "w1", TTL, now=at(0))
    before = storage.log.runs()
    assert rebuild_read_model(storage.database) == 2
    assert storage.log.runs() == before
    execute(storage.database, "DELETE FROM runs")
    rebuild_read_model(storage.database)
    rebuilt = {run.run_id: (run.owner, run.lease_expires_at) for run in storage.log.runs()}
    assert rebuilt == {"a": ("old", None), "b": ("old", None)}  # the owner of run.running


CLAIMER = """
import json, sys, time
from datetime import datetime
from pathlib import Path
from ledgerflow.storage import SqlEventLog, create_db_engine

url, home, owner, now, go = sys.argv[1:]
log = SqlEventLog(create_db_engine(url, Path(home)))
log.runs(limit=1)  # connected
Path(go + "." + owner).touch()  # ready
while not Path(go).exists():
    time.sleep(0.005)
mine = []
while claimed := log.claim_crashed(owner, 30.0, limit=1, now=datetime.fromisoformat(now)):
    mine += claimed
print(json.dumps(mine))
"""


def test_racing_processes_never_claim_a_run_twice(
    storage: Storage, database_url: str, tmp_path: Path
) -> None:
    run_ids = crashed_runs(storage, 40)
    go = tmp_path / "go"
    arguments = [database_url, str(tmp_path)]
    claimers = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, *arguments, f"p{i}", at(1000).isoformat(), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"go.p{i}").exists() for i in range(2)) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # both are ready: they start claiming together
    claims = []
    for claimer in claimers:
        out, err = claimer.communicate(timeout=120)
        assert claimer.returncode == 0, err
        claims.append(json.loads(out))
    assert Counter(run_id for mine in claims for run_id in mine) == Counter(run_ids)
    owners = {run.run_id: run.owner for run in storage.log.runs()}
    assert all(owners[run_id] == f"p{i}" for i, mine in enumerate(claims) for run_id in mine)
