"""A run's tasks for the web API: tasks outside maps listed, mapped children aggregated.

A map's children (``parent[i]``) are never listed with the run: each map becomes one
group with counts by state, so the run of a 10,000-way map stays small. Its children
are paged on request.
"""

import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ..engine.core.fold import TaskView
from ..engine.result_details import location_of
from .models import MapGroupOut, ResultLocationOut, TaskOut

_CHILD = re.compile(r"^(?P<parent>.+)\[(?P<index>\d+)\]$")


def parent_of(key: str) -> str | None:
    """The map a child key ``parent[i]`` belongs to (None for a task outside maps)."""
    match = _CHILD.match(key)
    return match["parent"] if match is not None else None


def _index(key: str) -> int:
    match = _CHILD.match(key)
    return int(match["index"]) if match is not None else -1


def task_out(task: TaskView) -> TaskOut:
    """One task as the API shows it, with where its result is (never its value)."""
    error = task.error or {}
    message = error.get("message")
    location = location_of(task.result)
    return TaskOut(
        key=task.key, state=task.state.value, attempts=task.attempts, duration_s=task.duration,
        started_at=task.started_at, finished_at=task.finished_at, map_count=task.map_count,
        error_type=error.get("type"), error_message=None if message is None else str(message),
        result=None if location is None else ResultLocationOut(**location.to_json()),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TaskOverview:
    """The tasks outside maps, and one group per map."""

    tasks: list[TaskOut]
    maps: list[MapGroupOut]


def overview(tasks: Mapping[str, TaskView]) -> TaskOverview:
    """Tasks outside maps in log order, and each map's children aggregated."""
    listed: list[TaskOut] = []
    groups: dict[str, list[TaskView]] = {}
    for task in tasks.values():
        parent = parent_of(task.key)
        if parent is None:
            listed.append(task_out(task))
        else:
            groups.setdefault(parent, []).append(task)
    maps = []
    for parent, children in groups.items():
        durations = [d for d in (child.duration for child in children) if d is not None]
        mapped = tasks.get(parent)
        maps.append(MapGroupOut(
            parent=parent, parent_state=None if mapped is None else mapped.state.value,
            children=len(children), counts=dict(Counter(child.state.value for child in children)),
            max_duration_s=max(durations) if durations else None,
        ))  # fmt: skip
    return TaskOverview(listed, maps)


def select(
    tasks: Mapping[str, TaskView], parent: str | None, states: Collection[str] | None
) -> list[TaskView]:
    """Every task (log order), or the children of ``parent`` (index order), in ``states``."""
    if parent is None:
        chosen = list(tasks.values())
    else:
        children = (task for task in tasks.values() if parent_of(task.key) == parent)
        chosen = sorted(children, key=lambda task: _index(task.key))
    if states is not None:
        chosen = [task for task in chosen if task.state.value in states]
    return chosen
