"""Summaries of runs (listed, or archived) carry ``.id`` as ``Run`` does; ``run_id`` stays."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import ledgerflow as lf

from . import flows


def test_a_run_summary_has_the_id_of_its_run(engine: lf.Engine) -> None:
    run = engine.run(flows.chain, n=1)
    summary = engine.runs()[0]
    assert summary.id == run.id == summary.run_id
    assert engine.runs(flow="chain")[0].id == run.id


def test_an_archived_run_has_its_id(engine: lf.Engine, tmp_path: Path) -> None:
    run = engine.run(flows.chain, n=1)
    engine.archive(engine.plan_archive(timedelta(0), now=datetime.now(UTC) + timedelta(days=1)), tmp_path)
    tombstone = engine.archived_runs()[0]
    assert tombstone.id == run.id == tombstone.run_id
