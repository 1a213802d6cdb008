"""Alerts and hooks: callables run when a run or task ends, each delivery recorded in the log.

``on_failure=`` / ``on_success=`` / ``on_retry=`` on ``@lf.flow`` (run.failed, run.succeeded;
a flow's ``on_retry`` fires for every task.retrying) and ``@lf.task`` (task.failed,
task.succeeded, task.retrying) take a callable ``hook(ctx: HookContext) -> None`` or a list.

The log is the outbox: a delivery is owed for each (trigger event, hook) until a
``hook.sent`` or ``hook.failed`` names that trigger's seq and the hook
(``engine.core.hook_outbox``). Once a trigger is written the run machine asks for its
deliveries; the runtime hands them to a small thread pool and the machine records what
became of them; once the run has ended it waits for them all. A driver that resumes a
run computes what is owed from the log, so a delivery a crash interrupted is made then:
at least once, and more than once only if the driver dies between the receiver's
acceptance and the append of ``hook.sent`` (webhooks get an ``Idempotency-Key`` to drop
such a repeat). A hook that keeps raising is recorded as ``hook.failed`` with the
reason; it never changes the state of the run.
"""

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tenacity import Retrying, retry_if_not_exception_type, stop_after_attempt, wait_exponential

from ..executors.text import exception_text
from ..storage.protocols import LeasedLog
from .core.errors import LedgerflowError
from .core.events import Event, EventType, NewEvent
from .core.fold import Folder, RunView
from .core.hook_outbox import HookNames, HookOutbox, Hooks, hooks_of_task
from .core.states import TaskState
from .errors import FlowDefinitionError

if TYPE_CHECKING:
    from .flow import TracedFlow

logger = logging.getLogger(__name__)

UI_URL_ENV = "LEDGERFLOW_UI_URL"


@dataclass(frozen=True, slots=True)
class HookRetry:
    """How a delivery is retried: ``attempts`` in all, waiting ``wait`` seconds, doubling up
    to ``max_wait``, between them. A hook raising ``HookRejected`` is not retried."""

    attempts: int = 3
    wait: float = 0.5
    max_wait: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.wait < 0 or self.max_wait < 0:
            raise ValueError(f"HookRetry needs attempts >= 1 and waits >= 0, got {self!r}")


DEFAULT_RETRY = HookRetry()


class HookRejected(Exception):
    """The receiver refused the delivery for good (e.g. HTTP 4xx): it is not retried."""


@dataclass(frozen=True, slots=True)
class HookContext:
    """What a hook is told: which run and task, how it ended, and how to inspect it.

    Error texts are redacted (secret parameters read ``***``). ``inspect`` is the command
    that shows the run; ``url`` its page when ``LEDGERFLOW_UI_URL`` is set.
    """

    flow: str
    run_id: str
    task_key: str | None
    state: str
    error_type: str | None
    error_message: str | None
    attempt: int | None
    inspect: str
    url: str | None
    hook: str
    trigger_seq: int
    text: str

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt of this delivery, across drivers: ``run:seq:hook``."""
        return f"{self.run_id}:{self.trigger_seq}:{self.hook}"

    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON object (what ``lf.notify.webhook`` posts)."""
        return asdict(self)


Hook = Callable[[HookContext], None]


@dataclass(frozen=True, slots=True)
class NamedHook:
    """A hook with its stable name (recorded in the log) and its retry policy."""

    name: str
    fn: Hook
    retry: HookRetry


HookSet = Hooks[NamedHook]
"""The hooks of one flow or task, by when they fire."""
NO_HOOKS: HookSet = Hooks()


def hook_set(scope: str, owner: str, **hooks: Hook | Sequence[Hook] | None) -> HookSet:
    """The ``HookSet`` of a flow or task (``scope``) named ``owner`` from its decorator's
    ``on_failure`` / ``on_success`` / ``on_retry``; raises ``FlowDefinitionError``."""
    named: dict[str, tuple[NamedHook, ...]] = {}
    for when, given in hooks.items():
        fns = [] if given is None else [given] if callable(given) else list(given)
        for fn in fns:
            if not callable(fn):
                raise FlowDefinitionError(
                    f"{scope} {owner!r}: {when}= takes a callable or a list of them, got {type(fn).__name__}"
                )
        named[when] = tuple(
            NamedHook(f"{scope}.{when}:{_name_of(fn)}:{index}", fn, _retry_of(fn))
            for index, fn in enumerate(fns)
        )
    return Hooks(**named)


def _name_of(fn: Hook) -> str:
    name = getattr(fn, "hook_name", None) or getattr(fn, "__qualname__", None)
    return str(name or type(fn).__qualname__)


def _retry_of(fn: Hook) -> HookRetry:
    retry = getattr(fn, "retry", None)
    return retry if isinstance(retry, HookRetry) else DEFAULT_RETRY


# -- which hooks there are ----------------------------------------------------------------


def _names(hooks: HookSet) -> HookNames:
    return hooks.map(lambda hook: hook.name)


class HookRegistry:
    """A traced flow's hooks: their names for the outbox, and each hook by its name."""

    def __init__(self, traced: "TracedFlow") -> None:
        self._flow = traced.hooks
        self._tasks = {key: call.task.hooks for key, call in traced.calls.items() if call.task.hooks}

    def outbox(self, events: Iterable[Event] = ()) -> HookOutbox:
        """An outbox of the flow's hooks holding what ``events`` (a log so far) owe."""
        outbox = HookOutbox(_names(self._flow), {key: _names(hooks) for key, hooks in self._tasks.items()})
        outbox.add(events)
        return outbox

    def resolve(self, event: Event, name: str) -> NamedHook:
        """The hook called ``name`` that ``event`` triggers."""
        if event.task_key is None or name.startswith("flow."):
            hooks = self._flow
        else:
            hooks = hooks_of_task(self._tasks, event.task_key)
        return next(h for h in (*hooks.on_failure, *hooks.on_success, *hooks.on_retry) if h.name == name)


# -- what a hook is told -------------------------------------------------------------------


def hook_context(event: Event, hook: str, view: RunView, redact: Callable[[Any], Any]) -> HookContext:
    """The context of ``hook`` called for the trigger ``event`` of the run ``view``."""
    task_key, error, attempt = event.task_key, event.payload.get("error"), event.payload.get("attempt")
    if task_key is None:  # a run event: name the first task that failed
        task_key, error, attempt = _first_failure(view, event.payload.get("failed") or ())
        state = event.type[4:].upper()
    else:
        state = event.type[5:].upper()
    error = error if isinstance(error, Mapping) else {}
    error_type = str(error["type"]) if "type" in error else None
    message = str(redact(str(error["message"]))) if "message" in error else None
    inspect = f"ledgerflow show {view.run_id}"
    ui = os.environ.get(UI_URL_ENV)
    url = f"{ui.rstrip('/')}/runs/{view.run_id}" if ui else None
    subject = f"ledgerflow: flow {view.flow} run {view.run_id}"
    if event.task_key is None:
        headline = f"{subject} {state}"
        if task_key is not None:
            headline += f": task {task_key} failed"
    else:
        headline = f"{subject}: task {task_key} {state} (attempt {attempt})"
    if error_type is not None:
        headline += f": {error_type}: {message}"
    text = f"{headline} — inspect: {inspect}" + (f" ({url})" if url else "")
    return HookContext(
        flow=view.flow, run_id=view.run_id, task_key=task_key, state=state, error_type=error_type,
        error_message=message, attempt=attempt if isinstance(attempt, int) else None,
        inspect=inspect, url=url, hook=hook, trigger_seq=event.seq, text=str(redact(text)),
    )  # fmt: skip


def _first_failure(view: RunView, failed: Iterable[str]) -> tuple[str | None, Any, Any]:
    """(task key, error, attempt) of the first task in ``failed`` that failed by itself."""
    tasks = [view.tasks[key] for key in failed if key in view.tasks]
    for task in tasks:
        if task.state is TaskState.FAILED:
            return task.key, task.error, task.attempts
    return (tasks[0].key, None, None) if tasks else (None, None, None)


# -- delivering ----------------------------------------------------------------------------


def deliver(hook: NamedHook, ctx: HookContext) -> tuple[EventType, dict[str, Any]]:
    """Call the hook, retried by its policy; the ``hook.sent`` or ``hook.failed`` to record."""
    attempts = 0

    def attempt() -> None:
        nonlocal attempts
        attempts += 1
        hook.fn(ctx)

    retrying = Retrying(
        stop=stop_after_attempt(hook.retry.attempts),
        wait=wait_exponential(multiplier=hook.retry.wait, max=hook.retry.max_wait),
        retry=retry_if_not_exception_type(HookRejected),
        reraise=True,
    )
    payload: dict[str, Any] = {"hook": hook.name, "trigger_seq": ctx.trigger_seq}
    try:
        retrying(attempt)
    except Exception as exc:  # a failing hook never fails the run: it is recorded
        reason = f"{type(exc).__name__}: {exception_text(exc)}"
        logger.warning(
            "run %s: hook %s failed after %d attempt(s): %s", ctx.run_id, hook.name, attempts, reason
        )
        return EventType.HOOK_FAILED, {**payload, "attempts": attempts, "reason": reason}
    return EventType.HOOK_SENT, {**payload, "attempts": attempts}


def settle_ended_run(
    view: RunView, events: Sequence[Event], trace: Callable[[], "TracedFlow"], log: LeasedLog,
    owner: str, lease_ttl: float | None,
) -> RunView:  # fmt: skip
    """Deliver what the log of an ended run still owes (its driver died before recording
    it) and append the records; returns the run's state after them.

    ``trace`` gives the run's flow (its hooks); a flow that cannot be loaded is logged and
    nothing is delivered. With ``lease_ttl`` the run's lease is taken for the append and
    given back; None: the caller holds it as ``owner``.
    """
    try:
        traced = trace()
    except LedgerflowError as exc:
        logger.warning("run %s: cannot load its flow to deliver owed hooks: %s", view.run_id, exc)
        return view
    registry = HookRegistry(traced)
    owed = registry.outbox(events).take()
    if not owed:
        return view
    if lease_ttl is not None:
        log.take_over(view.run_id, owner, lease_ttl)
    try:
        redact = traced.secrets.redact
        records = [deliver(registry.resolve(event, name), hook_context(event, name, view, redact))
                   for event, name in owed]  # fmt: skip
        appended = log.append(
            view.run_id, view.seq, [NewEvent(None, type_.value, payload) for type_, payload in records],
            owner,
        )  # fmt: skip
    finally:
        if lease_ttl is not None:
            log.release(view.run_id, owner)
    return Folder(view).apply_all(appended).view()
