"""Limits on the names a flow definition gives: the same on SQLite and PostgreSQL.

Names are stored in Text columns, but PostgreSQL caps an index entry at about 2.7 kB;
these limits keep every index holding a name (runs by flow, results by task key,
concurrency slots by tag and task key) below it for any characters.
"""

from collections.abc import Iterable

from ..storage import FLOW_LIMIT_PREFIX
from ..storage.names import InvalidName, check_name
from .errors import FlowDefinitionError

MAX_FLOW_NAME_LENGTH = 500
MAX_TASK_NAME_LENGTH = 300


def check_flow_name(name: str) -> None:
    """Raise ``FlowDefinitionError`` for a flow name longer than the limit."""
    _check("the flow name", name, MAX_FLOW_NAME_LENGTH)


def check_task_names(name: str, tags: Iterable[str]) -> None:
    """Raise ``FlowDefinitionError`` for a task name longer than its limit or a tag that
    cannot name a concurrency limit (see ``storage.names``; ``flow:...`` names flow limits)."""
    _check("the task name", name, MAX_TASK_NAME_LENGTH)
    for tag in tags:
        try:
            check_name("tag", tag)
        except InvalidName as exc:
            raise FlowDefinitionError(f"task {name[:40]!r}: {exc}") from None
        if isinstance(tag, str) and tag.startswith(FLOW_LIMIT_PREFIX):
            raise FlowDefinitionError(
                f"task {name[:40]!r}: tag {tag!r}: a limit named {FLOW_LIMIT_PREFIX}NAME caps the runs "
                "of flow NAME; give the task another tag"
            )


def _check(what: str, name: str, limit: int) -> None:
    if isinstance(name, str) and len(name) > limit:
        raise FlowDefinitionError(
            f"{what} {name[:40]!r}... has {len(name)} characters: at most {limit} are allowed"
        )
