"""Previews of results for the Run page: the run's result and a selected task's, as pretty
text (indented JSON, else Python's ``pprint``) of at most ``MAX_CHARS`` characters, or a
note saying why the server shows none: the result is not there yet, is too large to load
here (or to load with the page: then it is loaded on request), was not persisted, or
cannot be loaded in this process, with the problem (altered or missing bytes, a store the
server cannot read, a pickle of a class the server cannot import or signed with another key)."""

import pprint
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Any

import orjson

from ..engine.core.events import is_persisted
from ..engine.core.fold import RunView
from ..engine.core.states import RunState, TaskState
from ..engine.result_details import (
    ValueProblem,
    ValueUnavailable,
    explaining,
    human_size,
    run_result_tasks,
    stored_size,
    value_tasks,
)
from ..engine.result_values import load_result
from ..engine.run import Run
from ..storage import ResultStore
from ..storage.result_reads import StoreOpener

MAX_CHARS = 4000
MAX_NOTE_CHARS = 500
MAX_LOADS = 100  # task results one preview may load
MAX_BYTES = 5_000_000  # stored bytes one preview may load
EMBED_BYTES = 64 * 1024  # stored bytes a page loads to embed a preview; more: on request
_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


@dataclass(frozen=True, slots=True)
class Preview:
    """Text to show (None if nothing is shown) and a note about it (cut, or why not): the
    ``problem`` that kept the value from loading, or ``is_deferred``: loaded on request."""

    text: str | None
    note: str | None = None
    problem: ValueProblem | None = None
    is_deferred: bool = False


def stored_run(view: RunView, results: ResultStore, open_store: StoreOpener | None = None) -> Run:
    """The run of ``view``, loading results as stored, object stores opened by ``open_store``
    (the server's options), each failure a ``ValueUnavailable``: the server imports no flow's
    module to show a preview, so a pickle of a class it has not imported gets a note."""
    return Run(view, explaining(partial(load_result, results=results, open_store=open_store)))


def run_preview(run: Run, max_bytes: int = MAX_BYTES) -> Preview | None:
    """A preview of the run's result (the flow's return value); None unless it SUCCEEDED.
    Results taking more than ``max_bytes`` (up to ``MAX_BYTES``) are left for a request."""
    if run.state is not RunState.SUCCEEDED:
        return None
    return _preview(run.view, run_result_tasks(run.view), run.result, max_bytes)


def task_preview(run: Run, key: str, max_bytes: int = MAX_BYTES) -> Preview | None:
    """A preview of task ``key``'s result (a mapped task's: the list of its children's);
    None for a task without one (not succeeded, cached or mapped)."""
    state = run.tasks[key].state
    if not state.is_success and state is not TaskState.MAPPED:
        return None
    return _preview(run.view, value_tasks(run.view, key), lambda: run.task_result(key), max_bytes)


def pretty(value: Any) -> str:
    """``value`` as indented JSON if it is JSON (numpy arrays too), else as ``pprint`` shows it."""
    try:
        return orjson.dumps(value, option=_JSON_OPTIONS).decode()
    except TypeError:
        return pprint.pformat(value, width=100, sort_dicts=False)


def bounded(text: str, limit: int = MAX_CHARS) -> Preview:
    """``text``, cut at the last line break before ``limit`` characters if it is longer."""
    if len(text) <= limit:
        return Preview(text)
    cut = text.rfind("\n", 0, limit)
    shown = text[: cut if cut > 0 else limit]
    return Preview(shown, f"showing the first {len(shown):,} of {len(text):,} characters")


def _preview(view: RunView, stored: Iterable[str], load: Callable[[], Any], max_bytes: int) -> Preview:
    keys = list(islice(stored, MAX_LOADS + 1))
    if len(keys) > MAX_LOADS:
        return Preview(None, f"it gathers more than {MAX_LOADS} task results: too many to load here")
    lost = [key for key in keys if not is_persisted(view.tasks[key].result)]
    if lost:
        note = f"the result of {lost[0]!r} was not persisted: only its size and sha256 are recorded"
        return Preview(None, note)
    size = stored_size(view, keys)
    if size > MAX_BYTES:
        return Preview(None, f"its stored results take {size:,} bytes: too large to load here")
    if size > max_bytes:
        return Preview(None, f"{human_size(size)} stored: loaded on request", is_deferred=True)
    try:
        value = load()
    except ValueUnavailable as exc:
        reason = bounded(exc.problem.message, MAX_NOTE_CHARS).text
        return Preview(None, f"this server cannot load it: {reason}", exc.problem)
    return bounded(pretty(value))
