"""The code the child processes run, written to a test's tmp_path.

``chain.py`` is the main flow: ``step`` tasks in a line, each appending ``task_key attempt``
to ``ledger.txt`` (fsync'd) so the test can count how often each body ran. Children
instrument storage *in their own process* (``crash_harness.py``): they announce each
committed append on stdout, may wait for the parent after it, may SIGKILL
themselves right after a chosen result was stored or a chosen event appended, and may hold
(announced: ``stored KEY``) right after a task wrote its result to an object store, before its
driver records it.
``variants.py`` adds a dynamic map (``fan``) and a task that fails once (``retried``).
"""

from pathlib import Path
from textwrap import dedent

STEPS = 22
BIG_STEPS = frozenset({2, 7, 12, 17})  # their results are > 1 KiB: kept in the result store
FAN_WIDTH = 12  # children of the dynamic map of flow ``fan``
RETRY_DELAY = 1.0  # seconds before ``flaky`` (of flow ``retried``) is tried again


def expected_result(steps: int = STEPS) -> int:
    """The result of an uncrashed run of ``chain(steps)``."""
    return sum(i * i for i in range(steps))


def task_keys(steps: int = STEPS) -> list[str]:
    """The keys of the tasks of ``chain(steps)``, in order."""
    return ["step", *(f"step-{i}" for i in range(1, steps)), "total"]


RECORDING = dedent(
    f"""
    import os
    import time
    from pathlib import Path

    import ledgerflow as lf

    HERE = Path(__file__).resolve().parent
    LEDGER = HERE / "ledger.txt"
    STEPS = {STEPS}
    BIG_STEPS = {set(BIG_STEPS)!r}
    FAN_WIDTH = {FAN_WIDTH}
    RETRY_DELAY = {RETRY_DELAY}


    def record():
        ctx = lf.context()
        with LEDGER.open("a") as out:
            out.write(f"{{ctx.task_key}} {{ctx.attempt}}\\n")
            out.flush()
            os.fsync(out.fileno())
        return ctx


    def block_if_asked(ctx) -> None:
        # Only where the test asked for it (an environment variable of that process), and only
        # in the attempt it named (default the first): other attempts run straight through.
        block_attempt = int(os.environ.get("CRASH_BLOCK_ATTEMPT", "1"))
        if os.environ.get("CRASH_BLOCK_TASK") != ctx.task_key or ctx.attempt != block_attempt:
            return
        (HERE / f"started-{{ctx.task_key}}").touch()
        print("started", ctx.task_key, ctx.attempt, flush=True)
        deadline = time.monotonic() + 120
        while not (HERE / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)


    """
)

CHAIN = dedent(
    """

    @lf.task
    def step(previous: list[int], i: int) -> list[int]:
        block_if_asked(record())
        return [previous[0] + i * i] + [i] * (600 if i in BIG_STEPS else 0)


    @lf.task
    def total(previous: list[int]) -> int:
        record()
        return previous[0]


    @lf.flow
    def chain(steps: int = STEPS):
        value = [0]
        for i in range(steps):
            value = step(value, i)
        return total(value)
    """
)

HARNESS = dedent(
    """
    import os
    import signal
    import sys
    import time
    from pathlib import Path

    from ledgerflow.results.objects import ObjectStore
    from ledgerflow.storage import SqlEventLog, SqlResultStore


    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)


    def instrument() -> None:
        \"\"\"Wrap storage in this process as CRASH_MODE / CRASH_TARGET / CRASH_PAUSE ask.\"\"\"
        mode = os.environ.get("CRASH_MODE", "announce")
        target = os.environ.get("CRASH_TARGET")
        pause = os.environ.get("CRASH_PAUSE") == "1"
        append, append_many = SqlEventLog.append, SqlEventLog.append_many
        put_many = SqlResultStore.put_many

        def announce(run_id, appended):
            if mode == "after-event" and any(
                e.type == "task.succeeded" and e.task_key == target for e in appended
            ):
                die()
            words = [f"{e.type}:{e.task_key or ''}" for e in appended]
            print("appended", run_id, appended[-1].seq, *words, flush=True)
            if pause:
                sys.stdin.readline()  # the parent lets us go on, or kills us here

        def announcing_append(self, run_id, expected_seq, events, *args, **kwargs):
            try:
                appended = append(self, run_id, expected_seq, events, *args, **kwargs)
            except Exception as exc:
                print("refused", run_id, expected_seq, type(exc).__name__, flush=True)
                raise
            announce(run_id, appended)
            return appended

        def announcing_append_many(self, appends):
            outcomes = append_many(self, appends)
            for batch, outcome in zip(appends, outcomes):
                if isinstance(outcome, Exception):
                    print("refused", batch.run_id, batch.expected_seq, type(outcome).__name__, flush=True)
                elif outcome:
                    announce(batch.run_id, outcome)
            return outcomes

        def dying_put_many(self, results, *args, **kwargs):
            put_many(self, results, *args, **kwargs)
            if any(result.task_key == target for result in results):
                die()

        SqlEventLog.append = announcing_append
        SqlEventLog.append_many = announcing_append_many
        if mode == "after-result":
            SqlResultStore.put_many = dying_put_many
        if mode == "after-object":
            hold_after_object(target)
        if os.environ.get("CRASH_STALL_HEARTBEATS") == "1":
            stall_heartbeats()


    def hold_after_object(target) -> None:
        # The task's attempt wrote its result to the object store; announce the key and hold
        # that thread until the parent kills the process: its task.succeeded is never appended.
        write = ObjectStore.write

        def holding_write(self, chunks, key_of):
            written = write(self, chunks, key_of)
            if written.key.partition("/")[2].rpartition("/")[0] == target:
                print("stored", written.key, flush=True)
                sys.stdin.readline()
            return written

        ObjectStore.write = holding_write


    def stall_heartbeats() -> None:
        # Once a task body has started (a started-* file), heartbeats hang until the file
        # heartbeats-back exists: a driver whose heartbeat is stuck (partitioned, swapping).
        heartbeat, heartbeat_many = SqlEventLog.heartbeat, SqlEventLog.heartbeat_many

        def stall() -> None:
            deadline = time.monotonic() + 120
            while any(Path.cwd().glob("started-*")) and not Path("heartbeats-back").exists():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)

        def stalled_heartbeat(self, *args, **kwargs):
            stall()
            return heartbeat(self, *args, **kwargs)

        def stalled_heartbeat_many(self, *args, **kwargs):
            stall()
            return heartbeat_many(self, *args, **kwargs)

        SqlEventLog.heartbeat = stalled_heartbeat
        SqlEventLog.heartbeat_many = stalled_heartbeat_many
    """
)

DRIVE = dedent(
    """
    import os
    import sys

    import crash_harness
    import ledgerflow as lf
    from ledgerflow.engine.flow_ref import load_flow

    url, home, ref = sys.argv[1:4]
    crash_harness.instrument()
    ttl = float(os.environ.get("CRASH_LEASE_TTL", "30"))
    with lf.Engine(url, home=home, lease_ttl=ttl) as engine:
        run = engine.run(load_flow(ref))
        print("finished", run.id, run.state.value, flush=True)
    """
)

VARIANTS = dedent(
    """

    @lf.task
    def produce(n: int) -> list[int]:
        record()
        return list(range(n))


    @lf.task
    def square(x: int) -> int:
        record()
        return x * x


    @lf.task
    def add(values: list[int]) -> int:
        record()
        return sum(values)


    @lf.flow
    def fan(n: int = FAN_WIDTH):
        return add(square.map(produce(n)))


    @lf.task(retries=2, retry_delay=RETRY_DELAY)
    def flaky(previous: list[int]) -> list[int]:
        if record().attempt == 1:
            raise RuntimeError("the first attempt fails")
        return previous


    @lf.flow
    def retried(steps: int = 4):
        value = [0]
        for i in range(steps):
            value = step(value, i)
        return total(flaky(value))
    """
)

RESUME = dedent(
    """
    import sys

    import crash_harness
    import ledgerflow as lf

    url, home, run_id = sys.argv[1:4]
    crash_harness.instrument()
    with lf.Engine(url, home=home) as engine:
        run = engine.resume(run_id)
        print("finished", run.id, run.state.value, flush=True)
    """
)

MAIN_BLOCK = dedent(
    """

    if __name__ == "__main__":
        import sys

        import crash_harness

        crash_harness.instrument()
        with lf.Engine(sys.argv[1], home=sys.argv[2]) as engine:
            run = engine.run(chain)
            print("finished", run.id, run.state.value, flush=True)
    """
)

WORK = dedent(
    """
    import sys
    import time

    import ledgerflow as lf

    url, home, run_id, ttl = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    with lf.Worker(url, home=home, lease_ttl=ttl) as worker:
        log = worker.engine.storage.log
        print("ready", worker.engine.owner, flush=True)
        sys.stdin.readline()  # "go": both workers start claiming together
        deadline = time.monotonic() + 120
        while log.run(run_id).state not in ("SUCCEEDED", "FAILED", "CANCELLED"):
            if time.monotonic() > deadline:
                sys.exit("the run did not finish in 120 s")
            claimed = worker.run_once()
            if claimed:
                print("claimed", worker.engine.owner, *claimed, flush=True)
            else:
                time.sleep(0.02)  # poll interval of this test worker
        print("done", worker.engine.owner, log.run(run_id).state, flush=True)
    """
)


def write_scripts(directory: Path) -> None:
    """Write chain.py, main_chain.py (the flow run as __main__) and the child scripts."""
    (directory / "chain.py").write_text(RECORDING + CHAIN)
    (directory / "main_chain.py").write_text(RECORDING + CHAIN + MAIN_BLOCK)
    (directory / "variants.py").write_text(RECORDING + CHAIN + VARIANTS)
    (directory / "crash_harness.py").write_text(HARNESS)
    (directory / "drive.py").write_text(DRIVE)
    (directory / "resume.py").write_text(RESUME)
    (directory / "work.py").write_text(WORK)
