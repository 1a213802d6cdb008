"""The runtime's answers to the machine's questions: cache keys looked up, maps measured.

Both run user code (a task's ``cache_key``, rebuilding an argument's dataclass) and load
upstream results, which is why the machine asks rather than decides them itself.
"""

from collections.abc import Sequence
from datetime import datetime

from ...executors.arguments import resolve_arguments
from ...executors.text import exception_text
from ...results.errors import ResultCorrupted
from ...storage.errors import ResultNotLoadable, ResultRefused
from ...storage.protocols import CacheIndex
from ..arguments import mapped_lengths, upstream_keys
from ..caching import decide_cache_key
from ..core.machine import RunMachine
from ..core.stimuli import CacheAnswer, CacheAnswered, CacheHit, CacheMiss, MapMeasured, NotCached
from ..errors import ResultNotPersisted
from .inputs import RunInputs

UNUSABLE_RESULT = (ResultCorrupted, ResultRefused, ResultNotLoadable)
"""A stored result that loading it again would not change (altered or missing, signed with
another key, not loadable here): the task needing it fails."""
UNFED = (*UNUSABLE_RESULT, ResultNotPersisted)
"""Why a task's inputs cannot be handed to it: an unusable stored result, or one not persisted
that this drive does not hold."""


def cache_answers(keys: Sequence[str], inputs: RunInputs, cache: CacheIndex, now: datetime) -> CacheAnswered:
    """Each task's cache key from its inputs, looked up in one query."""
    answers: dict[str, CacheAnswer] = {}
    cache_keys: dict[str, str] = {}
    for key in keys:
        task = inputs.call_of(key).task
        args, kwargs = inputs.arguments(key)
        try:
            values = {k: inputs.load_if_succeeded(k) for k in upstream_keys((args, kwargs))}
        except ResultNotPersisted as exc:  # its value is where the task ran, not here
            answers[key] = NotCached(f"not cached: it takes the result of {exc.task_key!r}, not persisted")
            continue
        except UNUSABLE_RESULT:
            answers[key] = NotCached()  # not looked up: submitting it fails it, saying why
            continue
        try:  # rebuilding an argument runs user code (a dataclass's __init__, ...)
            args, kwargs = resolve_arguments(args, kwargs, values)
        except Exception as exc:  # the attempt meets it again and fails with it recorded
            answers[key] = NotCached(f"not cached: arguments not resolved ({exc!r})")
            continue
        decision = decide_cache_key(task, args, kwargs)
        if decision.key is None:
            answers[key] = NotCached(f"not cached: {decision.reason}")
        else:
            cache_keys[key] = decision.key
    entries = cache.cache_lookup_many(set(cache_keys.values()), now) if cache_keys else {}
    for key, cache_key in cache_keys.items():
        entry = entries.get(cache_key)
        if entry is None:
            answers[key] = CacheMiss(cache_key)
        else:
            answers[key] = CacheHit(cache_key, entry.result, entry.run_id, entry.task_key)
    return CacheAnswered(answers)


def measure_map(key: str, inputs: RunInputs, machine: RunMachine) -> MapMeasured:
    """How many children a dynamic map gets; a bad map input fails the task, not the engine."""
    try:
        lengths = mapped_lengths(inputs.call_of(key), machine.live_view(), inputs.load)
        if len(set(lengths.values())) > 1:
            raise ValueError(f"cannot map over inputs of different lengths: {lengths}")
    except Exception as exc:
        error = {"type": type(exc).__qualname__, "message": exception_text(exc), "traceback": ""}
        return MapMeasured(key, error=error)
    return MapMeasured(key, count=next(iter(lengths.values()), 0))
