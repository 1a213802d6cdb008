"""What a run's machine asks for: the commands ``RunMachine.handle`` returns, in order.

Plain data. The runtime carries them out against the ports (log, cache, limits,
executor) and answers the questions (``LookUpCache``, ``AcquireSlots``, ``MeasureMaps``)
with stimuli.
"""

from dataclasses import dataclass
from datetime import datetime

from .events import NewEvent
from .hook_outbox import Owed
from .states import RunState


@dataclass(frozen=True, slots=True)
class Append:
    """Write these events after the ones handed out before (the machine has folded them)."""

    events: tuple[NewEvent, ...]


@dataclass(frozen=True, slots=True)
class LookUpCache:
    """Compute these tasks' cache keys and look them up; answer with ``CacheAnswered``."""

    task_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AcquireSlots:
    """Take a slot of every limited tag of each task or none; answer with ``SlotsAnswered``."""

    tasks: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class ReleaseSlots:
    """Give back these tasks' slots: their ends are written."""

    task_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MeasureMaps:
    """Load the inputs of these dynamic maps and count them; answer with ``MapMeasured``."""

    task_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Submit:
    """Run these tasks' current attempts, once the events handed out before are written."""

    task_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeliverHooks:
    """Deliver these owed hooks (their triggers are written); answer each with
    ``HookDelivered``."""

    deliveries: tuple[Owed, ...]


@dataclass(frozen=True, slots=True)
class StopWork:
    """Cancel the run's work on the executor; report the attempts that still end, then
    ``WorkStopped``."""


@dataclass(frozen=True, slots=True)
class WakeAt:
    """Nothing more to decide now: write what was handed out, then tell the machine when an
    attempt ends, or at ``when`` (None: only when an attempt ends) with ``TimePassed``."""

    when: datetime | None


@dataclass(frozen=True, slots=True)
class Finished:
    """The drive is over, the run in ``state``: ended, or RUNNING when handed back (another
    driver continues it); write what was handed out."""

    state: RunState


@dataclass(frozen=True, slots=True)
class IgnoreOutcome:
    """An outcome that is not the task's current attempt (stale): it changes nothing."""

    task_key: str
    attempt: int


Command = (
    Append | LookUpCache | AcquireSlots | ReleaseSlots | MeasureMaps | Submit | DeliverHooks
    | StopWork | WakeAt | Finished | IgnoreOutcome
)  # fmt: skip
