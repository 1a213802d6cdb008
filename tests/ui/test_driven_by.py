"""The Runs list names who drives each run: the lease holder of a run being driven, the
last driver of a run that ended (its lease released), nobody for one never started."""

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

import ledgerflow as lf
from ledgerflow.engine.flow import Flow

FlowOf = Callable[[str], Flow[..., object]]


def driver_cells(html: str) -> dict[str, str]:
    """The last plain cell (Driven by) of each row of the Runs table, by run id."""
    rows = re.findall(r'<tr data-run="([^"]+)"[^>]*>(.*?)</tr>', html, flags=re.S)
    return {run_id: re.findall(r"<td>(.*?)</td>", body, flags=re.S)[-1].strip() for run_id, body in rows}


def test_the_runs_list_shows_who_drove_or_drives_each_run(
    client: TestClient, engine: lf.Engine, flow: FlowOf
) -> None:
    ended = engine.run(flow("chain"), x=1).id
    held = engine.run(flow("chain"), x=2).id
    waiting = engine.submit(flow("chain"), x=3)
    engine.storage.log.take_over(held, "elsewhere:42:feedbeef", ttl=600)

    listed = {run["run_id"]: run for run in client.get("/api/runs").json()}
    assert listed[ended]["owner"] is None and listed[ended]["driven_by"] == engine.owner
    assert listed[held]["owner"] == listed[held]["driven_by"] == "elsewhere:42:feedbeef"
    assert listed[waiting]["driven_by"] is None

    page = client.get("/runs")
    assert page.status_code == 200
    assert driver_cells(page.text) == {ended: engine.owner, held: "elsewhere:42:feedbeef", waiting: ""}

    engine.storage.log.release(held, "elsewhere:42:feedbeef")  # its lease let go: its last driver shows
    again = {run["run_id"]: run for run in client.get("/api/runs").json()}
    assert again[held]["owner"] is None and again[held]["driven_by"] == engine.owner
    assert again[ended]["driven_by"] == engine.owner
