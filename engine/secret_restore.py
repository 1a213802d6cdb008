"""Secret parameters of a recorded run, given again to drive it in another process.

The log holds only their keyed hashes: each value comes from the caller, from
``LEDGERFLOW_SECRET_<NAME>`` or from the parameter's default, and is refused unless its
keyed hash is the recorded one. A schedule records its secrets the same way: each run it
creates takes their values from the environment of the process that creates it.
"""

import contextlib
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from .errors import InvalidParameter
from .secrets import ENV_PREFIX, NO_SECRETS, RunSecrets, SecretHasher, is_marker

if TYPE_CHECKING:
    from .core.fold import RunView
    from .flow import Flow


class SecretMissing(InvalidParameter):
    """A run recorded a secret parameter, and nobody gave its value to drive it again."""

    def __init__(self, view: "RunView", name: str) -> None:
        super().__init__(
            view.flow, name,
            f"run {view.run_id} recorded it as a secret, so the log does not hold its value: "
            f"pass it (engine.resume/restart(..., secrets={{{name!r}: ...}}), "
            f"`ledgerflow resume {view.run_id} -p {name}=...`) or set {env_name(name)}",
        )


class SecretMismatch(InvalidParameter):
    """A secret's value was given, but its keyed hash is not the one the run recorded."""

    def __init__(self, view: "RunView", name: str, source: str, reason: str) -> None:
        super().__init__(view.flow, name, f"the value from {source} {reason}")


def env_name(name: str) -> str:
    """The environment variable that gives secret parameter ``name``: LEDGERFLOW_SECRET_<NAME>."""
    return ENV_PREFIX + name.upper()


def restore(
    view: "RunView", flow: "Flow[..., Any]", given: Mapping[str, Any] | None, home: Path
) -> RunSecrets:
    """The secrets of a recorded run, from ``given``, the environment or the parameters'
    defaults, each checked against its recorded keyed hash."""
    recorded = {name: value for name, value in view.parameters.items() if is_marker(value)}
    given = dict(given or {})
    for name in given:
        if name not in recorded:
            known = ", ".join(recorded) or "none"
            raise InvalidParameter(
                view.flow, name,
                f"run {view.run_id} did not record it as a secret (its secret parameters: "
                f"{known}); a run keeps the other parameters it recorded",
            )
    if not recorded:
        return NO_SECRETS
    hasher = SecretHasher.for_home(home)
    values = {
        name: _value(view, flow, name, marker, given, hasher) for name, marker in recorded.items()
    }
    return RunSecrets(values, hasher)


def _value(
    view: "RunView",
    flow: "Flow[..., Any]",
    name: str,
    marker: Mapping[str, str],
    given: Mapping[str, Any],
    hasher: SecretHasher,
) -> Any:
    if name in given:
        source, value = "the caller", given[name]
    elif env_name(name) in os.environ:
        source, value = env_name(name), os.environ[env_name(name)]
    else:
        found = _matching(_default(flow, name), marker, hasher)  # a default needs no giving
        if found is _NO_MATCH:
            raise SecretMissing(view, name)
        return found
    if marker["key_id"] != hasher.key_id:
        raise SecretMismatch(
            view, name, source,
            f"cannot be checked: run {view.run_id} recorded it under another key (key id "
            f"{marker['key_id']}, this process has {hasher.key_id}); use the "
            "LEDGERFLOW_RESULT_KEY of the process that created the run",
        )
    found = _matching(value, marker, hasher)
    if found is _NO_MATCH:
        raise SecretMismatch(
            view, name, source,
            f"is not the one run {view.run_id} started with (its keyed hash differs); a run "
            "continues with the inputs it recorded",
        )
    return found


def scheduled(
    schedule: str, flow: "Flow[..., Any]", parameters: Mapping[str, Any], home: Path
) -> dict[str, Any]:
    """The parameters of a run of ``schedule``: each secret the schedule recorded as its
    keyed hash is given by ``LEDGERFLOW_SECRET_<NAME>`` (or the parameter's default) in
    this process, and refused unless its keyed hash is the recorded one."""
    recorded = {name: value for name, value in parameters.items() if is_marker(value)}
    if not recorded:
        return dict(parameters)
    hasher = SecretHasher.for_home(home)
    values = {}
    for name, marker in recorded.items():
        if name not in flow.secrets:
            reason = f"schedule {schedule!r} recorded it as a secret, but the flow no longer declares it one"
            raise InvalidParameter(flow.name, name, f"{reason}: remove the schedule and add it again")
        if marker["key_id"] != hasher.key_id:
            raise InvalidParameter(
                flow.name, name,
                f"schedule {schedule!r} recorded it under another key (key id {marker['key_id']}, "
                f"this process has {hasher.key_id}); use the LEDGERFLOW_RESULT_KEY of the process "
                "that added the schedule",
            )
        is_set = env_name(name) in os.environ
        given = os.environ[env_name(name)] if is_set else _default(flow, name)
        values[name] = _matching(given, marker, hasher)
        if values[name] is _NO_MATCH:
            state = "holds another value" if is_set else "is not set"
            raise InvalidParameter(
                flow.name, name,
                f"schedule {schedule!r} recorded it as a secret, and {env_name(name)} {state} in "
                "the process creating its runs (its keyed hash must be the recorded one)",
            )
    return {**parameters, **values}


_NO_MATCH = object()


def _default(flow: "Flow[..., Any]", name: str) -> Any:
    parameter = flow.signature.parameters.get(name)
    return inspect.Parameter.empty if parameter is None else parameter.default


def _matching(value: Any, marker: Mapping[str, str], hasher: SecretHasher) -> Any:
    """The candidate of ``value`` whose keyed hash is the recorded one, else ``_NO_MATCH``."""
    for candidate in _candidates(value):
        if hasher.digest(candidate) == marker["secret"]:
            return candidate
    return _NO_MATCH


def _candidates(value: Any) -> list[Any]:
    """A given value as itself and, for text (a command line, the environment), as JSON."""
    if value is inspect.Parameter.empty:
        return []
    found = []
    with contextlib.suppress(TypeError):  # not a JSON value: it cannot match
        found.append(orjson.loads(orjson.dumps(value)))
    if isinstance(value, str):
        with contextlib.suppress(orjson.JSONDecodeError):
            found.append(orjson.loads(value))
    return found
