"""The Run page's preview of a result that was not persisted: a note saying so, not a value."""

from pathlib import Path

import ledgerflow as lf
from ledgerflow.ui.previews import run_preview, stored_run, task_preview


@lf.task(persist_result=False)
def rows(n: int) -> list[int]:
    return list(range(n))


@lf.flow
def returns_rows(n: int = 3):
    return rows(n)


def test_a_result_not_persisted_gets_a_note(database_url: str, tmp_path: Path) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        finished = engine.run(returns_rows)
        run = stored_run(engine.get_run(finished.id).view, engine.storage.results)
    note = "the result of 'rows' was not persisted: only its size and sha256 are recorded"
    assert run_preview(run) == task_preview(run, "rows")
    preview = task_preview(run, "rows")
    assert preview is not None and (preview.text, preview.note) == (None, note)
