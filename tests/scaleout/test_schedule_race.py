"""Three ``ledgerflow scheduler`` processes race for the same fire times, on SQLite and on
PostgreSQL: each fire time gets exactly one claim and one run, created by one process."""

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.storage import schema

from .conftest import SCRIPT, Process, child_env, wait_until

FLOWS = dedent(
    '''
    import ledgerflow as lf


    @lf.task
    def stamp(fire_time: str) -> str:
        return fire_time


    @lf.flow
    def stamped(fire_time: str):
        return stamp(fire_time)
    '''
)
SCHEDULERS = 3
CREATED = re.compile(r"created run (\S+)")


def _created(engine: lf.Engine, name: str) -> int:
    return len(engine.storage.schedules.fires(name, is_pending=False))


def test_three_schedulers_create_each_fire_time_once(database_url: str, tmp_path: Path) -> None:
    flows = tmp_path / "raced_flows.py"
    flows.write_text(FLOWS)
    home = tmp_path / "home"
    with lf.Engine(database_url, home=home) as engine:
        flow = load_flow(f"{flows}:stamped")
        # Missed minutes all due at once when the schedulers start, and new seconds as they run.
        engine.schedule("minutely", flow, cron="* * * * *", catchup="backfill:5")
        engine.schedule("secondly", flow, interval="1s", catchup="skip")
        with engine.storage.database.begin() as connection:
            table = schema.schedules
            ten_minutes_ago = datetime.now(UTC) - timedelta(minutes=10)
            backdated = table.update().where(table.c.name == "minutely")
            connection.execute(backdated.values(considered_until=ten_minutes_ago))
        env = child_env(LEDGERFLOW_HOME=str(home))
        args = [str(SCRIPT), "scheduler", "--poll", "0.05", "--database", database_url]
        processes = [Process(args, tmp_path / f"scheduler-{n}.log", env) for n in range(SCHEDULERS)]
        try:
            wait_until(
                lambda: _created(engine, "minutely") >= 5 and _created(engine, "secondly") >= 5,
                "both schedules had five runs created",
            )
        finally:
            for process in processes:
                process.stop()
        fires = engine.storage.schedules.fires()
        runs = engine.runs()
    logs = [process.output() for process in processes]
    assert all("Traceback" not in log for log in logs), "\n".join(logs)
    created_by = Counter(run_id for log in logs for run_id in CREATED.findall(log))
    fire_run_ids = {fire.run_id for fire in fires}
    assert [fire for fire in fires if fire.is_pending] == []
    assert len(fire_run_ids) == len(fires)
    assert sorted(summary.run_id for summary in runs) == sorted(fire_run_ids)  # one run per fire time
    assert set(created_by) == fire_run_ids and set(created_by.values()) == {1}  # each by one process
    assert sum(fire.schedule == "minutely" for fire in fires) >= 5
