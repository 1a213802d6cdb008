"""Previews of results for the Run page: the run's result and a selected task's, as pretty
text (indented JSON, else Python's ``pprint``) of at most ``MAX_CHARS`` characters, or a
note saying why the server shows none: the result is not there yet, is too large to load
here, was not persisted, or cannot be loaded in this process (a pickle of a class the server
cannot import, a result signed with another key)."""

import pprint
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Any

import orjson

from ..engine.core.events import is_persisted
from ..engine.core.fold import RunView
from ..engine.core.graph import result_refs
from ..engine.core.states import RunState, TaskState
from ..engine.result_values import load_result
from ..engine.run import Run
from ..storage import ResultStore

MAX_CHARS = 4000
MAX_NOTE_CHARS = 500
MAX_LOADS = 100  # task results one preview may load
MAX_BYTES = 5_000_000  # stored bytes one preview may load
_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


@dataclass(frozen=True, slots=True)
class Preview:
    """Text to show (None if nothing can be shown) and a note about it (cut, or why not)."""

    text: str | None
    note: str | None = None


def stored_run(view: RunView, results: ResultStore) -> Run:
    """The run of ``view``, loading results as stored: the server imports no flow's module
    to show a preview, so a pickle of a class it has not imported gets a note."""
    return Run(view, partial(load_result, results=results))


def run_preview(run: Run) -> Preview | None:
    """A preview of the run's result (the flow's return value); None unless it SUCCEEDED."""
    if run.state is not RunState.SUCCEEDED:
        return None
    keys = (leaf for key in result_refs(run.view.graph.result) for leaf in _stored(run.view, key))
    return _preview(run.view, keys, run.result)


def task_preview(run: Run, key: str) -> Preview | None:
    """A preview of task ``key``'s result (a mapped task's: the list of its children's);
    None for a task without one (not succeeded, cached or mapped)."""
    state = run.tasks[key].state
    if not state.is_success and state is not TaskState.MAPPED:
        return None
    return _preview(run.view, _stored(run.view, key), lambda: run.task_result(key))


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


def _preview(view: RunView, stored: Iterable[str], load: Callable[[], Any]) -> Preview:
    keys = list(islice(stored, MAX_LOADS + 1))
    if len(keys) > MAX_LOADS:
        return Preview(None, f"it gathers more than {MAX_LOADS} task results: too many to load here")
    lost = [key for key in keys if not is_persisted(view.tasks[key].result)]
    if lost:
        note = f"the result of {lost[0]!r} was not persisted: only its size and sha256 are recorded"
        return Preview(None, note)
    size = sum(int((view.tasks[key].result or {}).get("size", 0)) for key in keys)
    if size > MAX_BYTES:
        return Preview(None, f"its stored results take {size:,} bytes: too large to load here")
    try:
        value = load()
    except Exception as exc:  # whatever unpickling raises: the page still renders
        reason = bounded(f"{type(exc).__name__}: {exc}", MAX_NOTE_CHARS).text
        return Preview(None, f"this server cannot load it: {reason}")
    return bounded(pretty(value))


def _stored(view: RunView, key: str) -> Iterator[str]:
    """The tasks whose stored results make up ``key``'s (a map's children, recursively)."""
    if view.tasks[key].state is TaskState.MAPPED:
        for child in view.children(key):
            yield from _stored(view, child.key)
    else:
        yield key
