"""OpenTelemetry, if installed: the one module that imports it, and the span context a task
body runs in.

``pip install ledgerflow[otel]`` brings ``opentelemetry-api``; ledgerflow imports it on first
use only, and works the same without it. The driver hands each attempt its span's context as
a small W3C carrier (``Invocation.trace``, made with ``opentelemetry.propagate.inject``: plain
strings, so it pickles to Dask workers); ``body_context`` attaches it around the body, so that
a span the body opens is a child of the attempt's. No carrier (tracing off): nothing of
OpenTelemetry is touched.
"""

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import ModuleType
from typing import NamedTuple

Carrier = Mapping[str, str]
"""A span context as W3C trace-context headers (``traceparent``...)."""

_NO_CONTEXT: AbstractContextManager[None] = nullcontext()


class OpenTelemetry(NamedTuple):
    """The modules of the OpenTelemetry API ledgerflow uses."""

    trace: ModuleType
    propagate: ModuleType
    context: ModuleType


_loaded: list[OpenTelemetry | None] = []  # empty until first asked: the import, or None without it


def opentelemetry_api() -> OpenTelemetry | None:
    """The OpenTelemetry API, imported on first call (None if it is not installed)."""
    if not _loaded:
        try:
            from opentelemetry import context, propagate, trace
        except ImportError:
            _loaded.append(None)
        else:
            _loaded.append(OpenTelemetry(trace, propagate, context))
    return _loaded[0]


def body_context(carrier: Carrier | None) -> AbstractContextManager[None]:
    """Within it, the current span context is ``carrier``'s (None: as it is, at no cost)."""
    return _NO_CONTEXT if carrier is None else _attached(carrier)


@contextmanager
def _attached(carrier: Carrier) -> Iterator[None]:
    api = opentelemetry_api()
    if api is None:  # a carrier made where OpenTelemetry is installed, run where it is not
        yield
        return
    token = api.context.attach(api.propagate.extract(carrier))
    try:
        yield
    finally:
        api.context.detach(token)
