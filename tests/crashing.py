"""An executor that dies as a driver process would, for tests of resume and recovery."""

from collections.abc import Sequence
from concurrent.futures import Future

from ledgerflow.executors import Invocation, Outcome, ThreadExecutor


class CrashingExecutor(ThreadExecutor):
    """Dies (raises ``SystemExit``, as a driver process would) when asked to run ``fatal``."""

    def __init__(self, fatal: str) -> None:
        super().__init__()
        self.fatal = fatal

    def submit_many(self, invocations: Sequence[Invocation]) -> list[Future[Outcome]]:
        if any(invocation.task_key == self.fatal for invocation in invocations):
            raise SystemExit("driver died")
        return super().submit_many(invocations)
