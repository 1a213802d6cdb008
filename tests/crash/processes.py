"""Child processes the crash tests drive: read their stdout line by line, answer, kill them."""

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

DEADLINE_SECONDS = 60.0
"""The longest any step of a crash test waits for a child (a hang fails, never blocks CI)."""

PYTHON = sys.executable
LEDGERFLOW_CLI = str(Path(sys.executable).with_name("ledgerflow"))


class Child:
    """A child process whose stdout lines arrive on a queue (read by a thread)."""

    def __init__(self, args: Sequence[str], cwd: Path, env: dict[str, str], name: str) -> None:
        self.name = name
        self.stderr_path = cwd / f"{name}.stderr"
        with self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                list(args), cwd=cwd, env=env, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            )  # fmt: skip
        self.pid = self.process.pid
        self.lines: list[str] = []
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def next_line(self, deadline: float) -> str | None:
        """The next stdout line; None at end of output. Fails the test at ``deadline``."""
        try:
            line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"{self.name}: no output before the deadline; {self.describe()}") from None
        if line is not None:
            self.lines.append(line)
        return line

    def wait_for(self, is_wanted: Callable[[str], bool], *, reply: bool = False) -> str:
        """Read lines until one is wanted and return it; ``reply`` lets a paused child go on
        after each line that is not wanted."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            line = self.next_line(deadline)
            if line is None:
                raise AssertionError(f"{self.name} ended before the awaited line; {self.describe()}")
            if is_wanted(line):
                return line
            if reply:
                self.send("")

    def rest(self) -> list[str]:
        """The remaining stdout lines, up to the end of output (bounded wait)."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        rest = []
        while (line := self.next_line(deadline)) is not None:
            rest.append(line)
        return rest

    def send(self, line: str) -> None:
        """Write a line to the child's stdin (a child that died meanwhile is fine)."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def kill(self) -> int:
        """SIGKILL the child and reap it; returns its exit status (-9)."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        return self.wait()

    def wait(self) -> int:
        """Wait (bounded) for the child to exit; returns its exit status."""
        try:
            return self.process.wait(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit in time; {self.describe()}") from None

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def describe(self) -> str:
        tail = "\n".join(self.lines[-10:])
        return f"exit {self.process.poll()}, last stdout lines:\n{tail}\nstderr:\n{self.stderr()[-3000:]}"

    def close(self) -> None:
        """Kill the child if it still runs (it may be stopped: continue it so it dies)."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            os.kill(self.pid, signal.SIGCONT)
            self.process.wait(timeout=DEADLINE_SECONDS)
        self._reader.join(timeout=DEADLINE_SECONDS)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):  # a pipe to a dead child
                    stream.close()


def wait_until(condition: Callable[[], bool], what: str, seconds: float = DEADLINE_SECONDS) -> None:
    """Poll ``condition`` (every 20 ms) until it holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting until {what}")
        time.sleep(0.02)


Spawn = Callable[..., Child]
"""The ``spawn`` fixture: ``spawn(*args, name=..., **environment) -> Child``."""


def drive(
    spawn: Spawn, crash_dir: Path, database_url: str, flow: str = "chain.py:chain", **env: str
) -> Child:
    """A child that runs a flow of ``crash_dir`` (drive.py), instrumented as ``env`` says."""
    ref = str(crash_dir / flow)
    return spawn(PYTHON, "drive.py", database_url, str(crash_dir), ref, name="driver", **env)


def kill_after_kth_success(child: Child, k: int, *, is_paused: bool) -> str:
    """Read the child's appends until the k-th task.succeeded, SIGKILL it; returns the run id.

    ``is_paused``: the child waits after each append (CRASH_PAUSE=1); it is let go on after
    every append before the k-th, so the kill lands right after that commit.
    """
    seen = 0

    def is_kth(line: str) -> bool:
        nonlocal seen
        if not line.startswith("appended "):
            return False
        seen += sum(word.startswith("task.succeeded:") for word in line.split())
        return seen >= k

    line = child.wait_for(is_kth, reply=is_paused)
    assert child.kill() == -signal.SIGKILL, "the child ended before the kill"
    return line.split()[1]
