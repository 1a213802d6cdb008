"""Capture what a task attempt prints and logs, in the thread that runs it, bounded.

While at least one attempt runs in a process, ``sys.stdout`` and ``sys.stderr`` are
proxies: every write still goes to the stream they replaced (a user at a terminal sees
prints as before) and, in a thread running an attempt, also to that attempt's buffer.
A context variable names the buffer, so other threads (and other attempts running at the
same time in the same process) never see each other's lines. A handler on the root
logger, installed once per process, routes ``logging`` records emitted in such a thread
to the buffer (INFO and above; the loggers' own levels still apply). Captured text is made
valid UTF-8 as it arrives (see ``executors.text``), and what an attempt writes through to
the real stream has the texts it must not show (its run's secrets) masked, write by write
(``print`` writes each argument whole; a secret split across two writes is not seen).

Output written by threads that a task body starts itself is not captured (a new thread
starts with an empty context), and neither is output written straight to file
descriptors 1 and 2 (by C code or subprocesses).
"""

import logging
import sys
import threading
from collections import deque
from collections.abc import Iterable
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TextIO

from .invocation import LogLine
from .text import Masker, readable_text

STDOUT = "stdout"
STDERR = "stderr"
LOG = "log"
CAPTURE_LEVEL = logging.INFO
HEAD_LINES = 1000  # an attempt keeps its first HEAD_LINES lines ...
TAIL_LINES = 1000  # ... and its last TAIL_LINES; the lines between are counted, not kept
MAX_LINE_CHARS = 8000
NOTE_LOGGER = "ledgerflow.capture"


class AttemptLog:
    """The bounded buffer of one attempt: its first and last lines, and how many were dropped.

    Thread-safe: a timed-out attempt's abandoned thread may still write while the
    outcome takes a snapshot.
    """

    def __init__(
        self,
        head: int = HEAD_LINES,
        tail: int = TAIL_LINES,
        max_chars: int = MAX_LINE_CHARS,
        masked: Iterable[str] = (),
    ) -> None:
        self._lock = threading.Lock()
        self.masker = Masker(masked) if masked else _NO_MASK  # for what goes through to the console
        self._head_size = head
        self._head: list[LogLine] = []
        self._tail_size = tail
        self._tail: deque[LogLine] | None = None  # made at the first line past the head
        self._max_chars = max_chars
        self._dropped = 0
        self._first_dropped_at: datetime | None = None
        # stream -> (time of the first write, text, characters cut) of a line not ended yet
        self._partial: dict[str, tuple[datetime, str, int]] = {}

    def add(self, line: LogLine) -> None:
        """Keep a complete line (or count it as dropped)."""
        with self._lock:
            self._add(line)

    def write(self, stream: str, text: str) -> None:
        """Text written to stdout or stderr: each completed line becomes a ``LogLine``."""
        now = datetime.now(UTC)
        text = readable_text(text)
        with self._lock:
            started, pending, cut = self._partial.pop(stream, (now, "", 0))
            *complete, rest = (pending + text).split("\n")
            for message in complete:
                self._add(LogLine(started, stream, message), cut)
                started, cut = now, 0
            if len(rest) > self._max_chars:  # a huge line without a newline yet: keep its start
                rest, cut = rest[: self._max_chars], cut + len(rest) - self._max_chars
            if rest or cut:
                self._partial[stream] = (started, rest, cut)

    def lines(self) -> tuple[LogLine, ...]:
        """The kept lines in order (pending partial lines included), with a note for a gap."""
        with self._lock:
            if not (self._head or self._partial):  # the attempt wrote nothing (most do not)
                return ()
            for stream, (started, rest, cut) in sorted(self._partial.items()):
                self._add(LogLine(started, stream, rest), cut)
            self._partial.clear()
            tail = self._tail or ()
            if not self._dropped:
                return (*self._head, *tail)
            assert self._first_dropped_at is not None
            note = LogLine(
                self._first_dropped_at,
                LOG,
                f"{self._dropped} line(s) dropped: an attempt keeps its first {self._head_size} "
                f"and its last {self._tail_size} lines",
                level="WARNING",
                logger=NOTE_LOGGER,
            )
            return (*self._head, note, *tail)

    def _add(self, line: LogLine, cut: int = 0) -> None:
        cut += max(0, len(line.message) - self._max_chars)
        if cut:
            line = replace(line, message=f"{line.message[: self._max_chars]}... [{cut} characters cut]")
        if len(self._head) < self._head_size:
            self._head.append(line)
            return
        if self._tail is None:
            self._tail = deque(maxlen=self._tail_size)
        if len(self._tail) == self._tail_size:
            evicted = self._tail[0] if self._tail else line
            self._dropped += 1
            if self._first_dropped_at is None:
                self._first_dropped_at = evicted.ts
        self._tail.append(line)


_NO_MASK = Masker(())


_current: ContextVar[AttemptLog | None] = ContextVar("ledgerflow_attempt_log", default=None)
# True while the capture handler forwards a record to logging.lastResort (which writes to
# sys.stderr): the record is already captured as a log line, not again as stderr.
_is_forwarding: ContextVar[bool] = ContextVar("ledgerflow_log_forwarding", default=False)


class _TeeStream:
    """Stands in for sys.stdout or sys.stderr: writes go through, and to the attempt's buffer.

    There is one proxy per stream for the whole process and it is never wrapped in
    another: if the stream was replaced while attempts ran (a test runner swapping its
    capture, ``contextlib.redirect_stdout``), the next attempt points the proxy at the new
    stream instead of stacking a second proxy on it. A write that comes back to the proxy
    in the same thread (a stream that wraps the proxy) goes nowhere instead of looping.
    """

    def __init__(self, stream: str, target: TextIO | None) -> None:
        self.stream = stream
        self.target = target
        self._inside = threading.local()

    def write(self, text: str) -> int:
        if getattr(self._inside, "active", False) or self.target is None:
            return len(text)
        buffer = _current.get()
        shown = text
        if buffer is not None and isinstance(text, str):
            if not _is_forwarding.get():
                buffer.write(self.stream, text)
            if buffer.masker:
                shown = buffer.masker.mask(text)
        self._inside.active = True
        try:
            written = self.target.write(shown)
        finally:
            self._inside.active = False
        return written if shown is text else len(text)

    def flush(self) -> None:
        if getattr(self._inside, "active", False) or self.target is None:
            return
        self._inside.active = True
        try:
            self.target.flush()
        finally:
            self._inside.active = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("stream", "target", "_inside"):
            raise AttributeError(name)
        if getattr(self._inside, "active", False):
            raise AttributeError(name)
        self._inside.active = True
        try:
            return getattr(self.target, name)
        finally:
            self._inside.active = False


class _CaptureHandler(logging.Handler):
    """On the root logger: a record emitted in an attempt's thread becomes a line of it.

    Having a handler on the root logger turns off ``logging.lastResort`` for records no
    other handler takes, so this handler forwards those to it: WARNING and above still
    reach stderr as they did before it was installed.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            buffer = _current.get()
            if buffer is not None:
                ts = datetime.fromtimestamp(record.created, UTC)
                line = LogLine(ts, LOG, _record_text(record), record.levelname, readable_text(record.name))
                buffer.add(line)
            last_resort = logging.lastResort
            if (
                last_resort is not None
                and record.levelno >= last_resort.level
                and not _has_other_handlers(record.name, self)
            ):
                token = _is_forwarding.set(True)
                try:
                    last_resort.handle(record)
                finally:
                    _is_forwarding.reset(token)
        except Exception:
            self.handleError(record)


def _record_text(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text = f"{text}\n{_FORMATTER.formatException(record.exc_info)}"
    if record.stack_info:
        text = f"{text}\n{_FORMATTER.formatStack(record.stack_info)}"
    return readable_text(text)


def _has_other_handlers(name: str, ours: logging.Handler) -> bool:
    """Whether a handler besides ``ours`` takes records of logger ``name`` (as logging finds them)."""
    logger: logging.Logger | None = (
        logging.getLogger() if name == logging.getLogger().name else logging.getLogger(name)
    )
    while logger is not None:
        if any(handler is not ours for handler in logger.handlers):
            return True
        if not logger.propagate:
            break
        logger = logger.parent
    return False


_FORMATTER = logging.Formatter()
_lock = threading.Lock()
_active = 0  # attempts capturing in this process right now
_handler = _CaptureHandler(CAPTURE_LEVEL)


def _install_handler() -> None:
    """Add the capture handler to the root logger (again, if logging was reconfigured)."""
    root = logging.getLogger()
    if _handler in root.handlers:
        return
    # Logging left unconfigured (no handlers, the default WARNING level) would drop INFO
    # records before any handler sees them: let them through. Configured levels stay.
    if not root.handlers and root.level == logging.WARNING:
        root.setLevel(CAPTURE_LEVEL)
    root.addHandler(_handler)


_proxies = {STDOUT: _TeeStream(STDOUT, None), STDERR: _TeeStream(STDERR, None)}


def _install_proxy(name: str) -> None:
    """Make ``sys.<name>`` the stream's proxy, pointed at whatever stream is there now."""
    proxy, current = _proxies[name], getattr(sys, name)
    if current is None or current is proxy:
        return
    proxy.target = current
    setattr(sys, name, proxy)


def _remove_proxy(name: str) -> None:
    """Put the proxied stream back, unless someone replaced the proxy meanwhile."""
    proxy = _proxies[name]
    if getattr(sys, name) is proxy:
        setattr(sys, name, proxy.target)


def _start() -> None:
    global _active
    with _lock:
        _install_handler()
        _active += 1
        # Every attempt checks: the streams may have been replaced while others ran.
        _install_proxy(STDOUT)
        _install_proxy(STDERR)


def _stop() -> None:
    global _active
    with _lock:
        _active -= 1
        if _active == 0:
            _remove_proxy(STDOUT)
            _remove_proxy(STDERR)


class _Capturing:
    """The ``with`` block of ``capturing`` (a class: cheaper than a generator, once per attempt)."""

    __slots__ = ("_buffer", "_token")

    def __init__(self, buffer: AttemptLog) -> None:
        self._buffer = buffer
        self._token: Token[AttemptLog | None] | None = None

    def __enter__(self) -> AttemptLog:
        _start()
        self._token = _current.set(self._buffer)
        return self._buffer

    def __exit__(self, *exc_info: object) -> None:
        assert self._token is not None
        _current.reset(self._token)
        _stop()


def capturing(buffer: AttemptLog) -> AbstractContextManager[AttemptLog]:
    """Route this thread's prints and log records to ``buffer`` for the ``with`` block."""
    return _Capturing(buffer)
