"""OpenTelemetry traces of runs: a span per drive of a run, a span per task attempt.

Tracing is on when OpenTelemetry's API is installed (``ledgerflow[otel]``) and a tracer
provider is configured (``trace.set_tracer_provider``, or ``OTEL_PYTHON_TRACER_PROVIDER``),
as seen when a drive starts: a provider set after ``import ledgerflow`` is the one used. Off,
a drive makes no span and its attempts carry no span context (``drive_spans`` is None).

A run is one trace. ``run.created`` records the span its drives nest under (the caller's
span, if ``engine.run`` is called inside one; else its first drive's; for a submitted run,
the span of its submission) and each ``run.running`` its drive's span, as
``{"trace_id": 32 hex, "span_id": 16 hex}``. A later drive (a resume, a worker taking the run)
starts under the recorded one, linked to the previous drive's span. An attempt's span starts
when its ``task.running`` is written and the attempt submitted, and ends when the event that
ends it is written (a cache hit: when its ``task.cached`` is); its context travels with the
invocation, so the spans a task body opens are its children (``executors.span_context``).
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ..executors.span_context import OpenTelemetry, opentelemetry_api
from .core.events import Event, EventType, NewEvent
from .tracing import TaskCall
from .version import ENGINE_VERSION

Trace = dict[str, str]
"""A span context as an event records it: ``{"trace_id": 32 hex, "span_id": 16 hex}``."""

_ENDINGS = {
    EventType.TASK_SUCCEEDED.value: "SUCCEEDED",
    EventType.TASK_RETRYING.value: "RETRYING",
    EventType.TASK_FAILED.value: "FAILED",
    EventType.TASK_SKIPPED.value: "SKIPPED",
    EventType.TASK_CANCELLED.value: "CANCELLED",
}
_FAILED = frozenset({"RETRYING", "FAILED"})
_CACHED = EventType.TASK_CACHED.value
_RUNNING = EventType.RUN_RUNNING.value
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Listener = Callable[[Sequence[Event]], None]  # as ``recorder.EventListener``
_tracer: list[tuple[Any, Any]] = []  # (the provider last seen, its tracer): one at a time, in practice


def tracing() -> tuple[OpenTelemetry, Any] | None:
    """The OpenTelemetry API and ledgerflow's tracer if a tracer provider is configured now,
    else None (OpenTelemetry absent, or its default provider, which records nothing)."""
    api = opentelemetry_api()
    if api is None:
        return None
    provider = api.trace.get_tracer_provider()
    if isinstance(provider, api.trace.ProxyTracerProvider | api.trace.NoOpTracerProvider):
        return None
    if not _tracer or _tracer[0][0] is not provider:
        _tracer[:] = [(provider, provider.get_tracer("ledgerflow", ENGINE_VERSION))]
    return api, _tracer[0][1]


class DriveSpans:
    """The spans of one drive of a run: the drive's, and one per attempt it records."""

    def __init__(
        self, api: OpenTelemetry, tracer: Any, drive: Any, run_id: str, task_name: Callable[[str], str]
    ) -> None:
        self._api = api
        self._tracer = tracer
        self._drive = drive
        self._context = api.trace.set_span_in_context(drive)
        self._run_id = run_id
        self._task_name = task_name
        self._attempts: dict[tuple[str, int], Any] = {}  # (task key, attempt) -> its open span

    @property
    def trace(self) -> Trace:
        """The drive's span, as ``run.running`` records it."""
        return recorded(self._drive.get_span_context())

    def created(self, created: NewEvent) -> NewEvent:
        """A new run's ``run.created`` recording the span its drives nest under: the caller's,
        if it is in one, else this first drive's."""
        caller = self._api.trace.get_current_span().get_span_context()
        trace = recorded(caller) if caller.is_valid else self.trace
        return replace(created, payload={**created.payload, "trace": trace})

    def listening(self, listener: Listener | None) -> Listener:
        """A listener to events written that ends their spans (``recorded``), then calls
        ``listener``."""
        if listener is None:
            return self.recorded

        def both(events: Sequence[Event]) -> None:
            self.recorded(events)
            listener(events)

        return both

    def submitted(self, key: str, attempt: int) -> dict[str, str]:
        """Start the span of the task's attempt, about to be submitted; its context, for the
        invocation to carry (a W3C carrier)."""
        span = self._start(key, {"ledgerflow.attempt": attempt, "ledgerflow.cache_hit": False})
        self._attempts[key, attempt] = span
        carrier: dict[str, str] = {}
        self._api.propagate.inject(carrier, context=self._api.trace.set_span_in_context(span))
        return carrier

    def recorded(self, events: Sequence[Event]) -> None:
        """Events were written: end the spans of the attempts they end; a cache hit's span."""
        for event in events:
            key = event.task_key
            if key is None:
                continue
            state = _ENDINGS.get(event.type)
            attempt = (key, event.payload.get("attempt", 0))
            if state is not None and (span := self._attempts.pop(attempt, None)) is not None:
                self._end_attempt(span, state, event.payload, _ns(event.ts))
            elif event.type == _CACHED:
                at = _ns(event.ts)
                span = self._start(key, {"ledgerflow.cache_hit": True}, at)
                span.set_attribute("ledgerflow.state", "CACHED")
                if (source := event.payload.get("source_run")) is not None:
                    span.set_attribute("ledgerflow.cache_source_run", str(source))
                span.end(end_time=at)

    def end(self, state: str, error: Exception | None) -> None:
        """The drive ended with the run in ``state`` (``error``: what ended the drive, if it
        failed): end its span, and those of attempts still in flight (their end not recorded)."""
        for span in self._attempts.values():
            span.end()
        self._attempts.clear()
        drive = self._drive
        drive.set_attribute("ledgerflow.state", state)
        if error is not None:
            drive.record_exception(error)
            drive.set_status(self._api.trace.Status(self._api.trace.StatusCode.ERROR, repr(error)))
        elif state in ("FAILED", "CRASHED"):
            drive.set_status(self._api.trace.Status(self._api.trace.StatusCode.ERROR, f"run {state}"))
        drive.end()

    def _start(self, key: str, attributes: dict[str, Any], at: int | None = None) -> Any:
        name = self._task_name(key)
        attributes.update(
            {"ledgerflow.run_id": self._run_id, "ledgerflow.task_key": key, "ledgerflow.task": name}
        )
        return self._tracer.start_span(
            f"ledgerflow task {name}", context=self._context, attributes=attributes, start_time=at
        )

    def _end_attempt(self, span: Any, state: str, payload: Mapping[str, Any], at: int) -> None:
        attributes: dict[str, Any] = {"ledgerflow.state": state}
        if (worker := payload.get("worker")) is not None:
            attributes["ledgerflow.worker"] = str(worker)
        for name in ("started_at", "finished_at"):  # the body's own times, where it ran
            if isinstance(when := payload.get(name), str):
                at_ns = _ns(datetime.fromisoformat(when))
                span.add_event(f"body {name.removesuffix('_at')}", timestamp=at_ns)
        error = payload.get("error")
        if state in _FAILED and isinstance(error, Mapping):
            message = f"{error.get('type')}: {error.get('message')}"
            if state == "RETRYING":
                attributes["ledgerflow.retry_reason"] = message
                attributes["ledgerflow.infrastructure"] = bool(payload.get("infrastructure"))
            span.add_event("exception", {
                "exception.type": str(error.get("type")), "exception.message": str(error.get("message")),
                "exception.stacktrace": str(error.get("traceback") or ""),
            })  # fmt: skip
            span.set_status(self._api.trace.Status(self._api.trace.StatusCode.ERROR, message))
        elif state == "SKIPPED" and (reason := payload.get("reason")):
            attributes["ledgerflow.skip_reason"] = str(reason)
        span.set_attributes(attributes)
        span.end(end_time=at)


def drive_spans(
    run_id: str, events: Sequence[Event], owner: str, reason: str, task_name: Callable[[str], str]
) -> DriveSpans | None:
    """Start the span of a drive of the run whose log is ``events`` (of a new run: its
    ``run.created`` as it will be logged), in the current context for a run with no recorded
    trace; None if tracing is off."""
    traced = tracing()
    if traced is None:
        return None
    api, tracer = traced
    created = events[0].payload
    parent = _remote(api, created.get("trace"))
    drives = (event.payload.get("trace") for event in reversed(events) if event.type == _RUNNING)
    previous = next(drives, None)
    links = [api.trace.Link(context)] if (context := _span_context(api, previous)) is not None else []
    flow = str(created.get("flow", ""))
    drive = tracer.start_span(
        f"ledgerflow run {flow}", context=parent, links=links, attributes={
            "ledgerflow.run_id": run_id, "ledgerflow.flow": flow, "ledgerflow.owner": owner,
            "ledgerflow.reason": reason,
        },
    )  # fmt: skip
    return DriveSpans(api, tracer, drive, run_id, task_name)


@contextmanager
def submission(flow: str) -> Iterator[Callable[[NewEvent, str], NewEvent]]:
    """A span around the submission of a run of ``flow``, in the caller's context: within it,
    a function that makes the ``run.created`` of the run it names record it (as it is, tracing
    off) and names the run on the span."""
    traced = tracing()
    if traced is None:
        yield _as_it_is
        return
    tracer = traced[1]
    attributes = {"ledgerflow.flow": flow}
    with tracer.start_as_current_span(f"ledgerflow submit {flow}", attributes=attributes) as span:
        trace = recorded(span.get_span_context())

        def recording(created: NewEvent, run_id: str) -> NewEvent:
            span.set_attribute("ledgerflow.run_id", run_id)
            return replace(created, payload={**created.payload, "trace": trace})

        yield recording


def task_names(calls: Mapping[str, TaskCall]) -> Callable[[str], str]:
    """The name of a task by its key (a mapped child's: its parent's task's)."""

    def name(key: str) -> str:
        node = key
        while node not in calls and node.endswith("]") and "[" in node:
            node = node[: node.rindex("[")]
        call = calls.get(node)
        return key if call is None else call.task.name

    return name


def recorded(context: Any) -> Trace:
    """A span context as an event records it."""
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def _as_it_is(created: NewEvent, run_id: str) -> NewEvent:
    return created


def _span_context(api: OpenTelemetry, trace: Any) -> Any:
    """The span context a payload's ``trace`` records (None: none, or not one)."""
    if not isinstance(trace, Mapping):
        return None
    try:
        trace_id, span_id = int(str(trace["trace_id"]), 16), int(str(trace["span_id"]), 16)
    except (KeyError, ValueError):
        return None
    flags = api.trace.TraceFlags(api.trace.TraceFlags.SAMPLED)
    context = api.trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)
    return context if context.is_valid else None


def _remote(api: OpenTelemetry, trace: Any) -> Any:
    """The context whose parent is the recorded span (None: the current context)."""
    context = _span_context(api, trace)
    return None if context is None else api.trace.set_span_in_context(api.trace.NonRecordingSpan(context))


def _ns(when: datetime) -> int:
    """A time as OpenTelemetry takes it: nanoseconds since the epoch."""
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
