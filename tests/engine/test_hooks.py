"""Alerts and hooks: delivered once per trigger, recorded as events, never failing the run."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

import ledgerflow as lf
from ledgerflow.cli import app
from ledgerflow.engine.core.errors import InvalidEvent
from ledgerflow.engine.core.events import Event
from ledgerflow.engine.core.fold import fold
from ledgerflow.engine.errors import FlowDefinitionError
from ledgerflow.engine.hooks import HookRegistry, HookRetry
from ledgerflow.replay import diff_runs, lineage

SECRET = "hunter2-5f2b9c1e"
FAST = HookRetry(attempts=3, wait=0.0)


class Receiver:
    """A local HTTP server recording each POST; ``/fail`` answers 500, ``/reject`` 400."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, dict(self.headers), orjson.loads(body)))
                status = {"/fail": 500, "/reject": 400}.get(self.path, 200)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def bodies(self, path: str) -> list[Any]:
        return [body for where, _, body in self.requests if where == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    opened = Receiver()
    yield opened
    opened.close()


def hook_events(events: list[Event]) -> list[Event]:
    return [e for e in events if e.type.startswith("hook.")]


@lf.task
def login(password: str) -> int:
    raise PermissionError(f"wrong password {password}")


@lf.task
def fine(x: int) -> int:
    return x + 1


def test_a_failed_run_sends_one_slack_message_without_secrets(
    engine: lf.Engine, receiver: Receiver
) -> None:
    @lf.flow(name="nightly", secrets=["password"], on_failure=lf.notify.slack(receiver.url + "/slack"))
    def nightly(password: str) -> int:
        return fine(login(password))

    run = engine.run(nightly, password=SECRET)
    assert run.state == "FAILED"
    [body] = receiver.bodies("/slack")
    assert body == {
        "text": f"ledgerflow: flow nightly run {run.id} FAILED: task login failed: builtins.PermissionError: "
        f"wrong password *** — inspect: ledgerflow show {run.id}"
    }
    events = engine.events(run.id)
    [sent] = hook_events(events)
    failed = next(e for e in events if e.type == "run.failed")
    assert sent.type == "hook.sent" and sent.seq > failed.seq
    assert sent.payload == {"hook": "flow.on_failure:slack:0", "trigger_seq": failed.seq, "attempts": 1}
    [(_, headers, _)] = receiver.requests
    assert headers["Idempotency-Key"] == f"{run.id}:{failed.seq}:flow.on_failure:slack:0"
    assert SECRET not in str(receiver.requests)
    assert engine.get_run(run.id).state == "FAILED" and engine.verify(run.id).ok


def test_a_webhook_answering_500_is_retried_and_recorded_and_the_run_is_unaffected(
    engine: lf.Engine, receiver: Receiver
) -> None:
    @lf.flow(on_success=lf.notify.webhook(receiver.url + "/fail", retry=FAST))
    def adds() -> int:
        return fine(1)

    run = engine.run(adds)
    assert run.state == "SUCCEEDED" and run.result() == 2
    bodies = receiver.bodies("/fail")
    assert len(bodies) == 3
    keys = {headers["Idempotency-Key"] for _, headers, _ in receiver.requests}
    assert len(keys) == 1  # every attempt of one delivery carries the same key
    assert bodies[0]["run_id"] == run.id and bodies[0]["state"] == "SUCCEEDED"
    assert bodies[0]["inspect"] == f"ledgerflow show {run.id}"
    [failed] = hook_events(engine.events(run.id))
    assert failed.type == "hook.failed"
    assert failed.payload["attempts"] == 3
    assert failed.payload["reason"] == "DeliveryFailed: webhook answered HTTP 500"
    assert engine.get_run(run.id).state == "SUCCEEDED"
    assert [r.state for r in engine.runs() if r.run_id == run.id] == ["SUCCEEDED"]


def test_a_rejected_webhook_is_not_retried(engine: lf.Engine, receiver: Receiver) -> None:
    @lf.flow(on_failure=lf.notify.webhook(receiver.url + "/reject", retry=FAST))
    def rejected() -> int:
        return login("x")

    run = engine.run(rejected)
    assert run.state == "FAILED" and len(receiver.requests) == 1
    [failed] = hook_events(engine.events(run.id))
    assert failed.payload["attempts"] == 1
    assert failed.payload["reason"] == "HookRejected: webhook refused the message: HTTP 400"


def test_a_hook_that_raises_is_recorded_and_the_run_is_unaffected(engine: lf.Engine) -> None:
    calls: list[lf.HookContext] = []

    def broken(ctx: lf.HookContext) -> None:
        calls.append(ctx)
        raise RuntimeError("no route to pager")

    broken.retry = HookRetry(attempts=2, wait=0.0)  # type: ignore[attr-defined]

    @lf.flow(on_success=[broken])
    def adds() -> int:
        return fine(1)

    run = engine.run(adds)
    assert run.state == "SUCCEEDED" and len(calls) == 2
    [failed] = hook_events(engine.events(run.id))
    assert failed.type == "hook.failed"
    assert failed.payload["hook"].startswith("flow.on_success:") and failed.payload["hook"].endswith(":0")
    assert failed.payload["reason"] == "RuntimeError: no route to pager"
    assert engine.get_run(run.id).state == "SUCCEEDED"


def test_task_hooks_fire_per_retry_and_on_success(engine: lf.Engine) -> None:
    seen: list[tuple[str, str | None, str, int | None, str | None]] = []

    def note(ctx: lf.HookContext) -> None:
        seen.append((ctx.hook.split(":")[0], ctx.task_key, ctx.state, ctx.attempt, ctx.error_type))

    @lf.task(retries=2, on_retry=note, on_success=note)
    def flaky() -> str:
        if lf.context().attempt < 3:
            raise OSError("not yet")
        return "done"

    @lf.flow(on_retry=note)
    def patient() -> str:
        return flaky()

    run = engine.run(patient)
    assert run.state == "SUCCEEDED"
    assert sorted(seen, key=lambda s: (s[3] or 0, s[0])) == [
        ("flow.on_retry", "flaky", "RETRYING", 1, "builtins.OSError"),
        ("task.on_retry", "flaky", "RETRYING", 1, "builtins.OSError"),
        ("flow.on_retry", "flaky", "RETRYING", 2, "builtins.OSError"),
        ("task.on_retry", "flaky", "RETRYING", 2, "builtins.OSError"),
        ("task.on_success", "flaky", "SUCCEEDED", 3, None),
    ]
    events = engine.events(run.id)
    assert [e.type for e in hook_events(events)] == ["hook.sent"] * 5
    retrying = [e.seq for e in events if e.type == "task.retrying"]
    assert {e.payload["trigger_seq"] for e in hook_events(events)} >= set(retrying)


def test_the_outbox_owes_what_the_log_has_not_recorded(engine: lf.Engine) -> None:
    def quiet(ctx: lf.HookContext) -> None:
        pass

    @lf.flow(on_success=[quiet, quiet])
    def adds() -> int:
        return fine(1)

    run = engine.run(adds)
    events = engine.events(run.id)
    registry = HookRegistry(adds.trace({}))
    assert registry.outbox(events).take() == []  # both were sent and recorded
    trigger = next(e for e in events if e.type == "run.succeeded")
    second_unsent = [e for e in events if not (e.type == "hook.sent" and e.payload["hook"].endswith(":1"))]
    outbox = registry.outbox(second_unsent)
    [(event, hook)] = outbox.take()
    assert event == trigger and hook.endswith("quiet:1")
    assert registry.resolve(event, hook).fn is quiet


def test_hook_events_fold_only_on_a_started_run() -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    created = Event("r", 1, None, "run.created", {"graph": {}}, now, "", "")
    sent = Event("r", 2, None, "hook.sent", {"hook": "h", "trigger_seq": 1}, now, "", "")
    with pytest.raises(InvalidEvent, match=r"hook\.sent on a PENDING run"):
        fold([created, sent])
    running = Event("r", 2, None, "run.running", {}, now, "", "")
    ended = Event("r", 3, None, "run.succeeded", {}, now, "", "")
    view = fold([created, running, ended, sent._replace(seq=4)])
    assert view.state == "SUCCEEDED" and view.seq == 4


def test_bad_hooks_are_refused_with_a_clear_error() -> None:
    with pytest.raises(FlowDefinitionError, match="flow 'f': on_failure= takes a callable"):
        lf.flow(name="f", on_failure=["not callable"])(lambda: None)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="must start with http"):
        lf.notify.slack("hooks.slack.com/x")
    with pytest.raises(ValueError, match="attempts >= 1"):
        HookRetry(attempts=0)


def test_reading_tools_cope_with_hook_events(
    engine: lf.Engine, receiver: Receiver, database_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    @lf.flow(on_failure=lf.notify.slack(receiver.url + "/slack"))
    def broken() -> int:
        return fine(login("x"))

    first, second = engine.run(broken), engine.run(broken)
    events = engine.events(first.id)
    assert hook_events(events)
    diff_runs(events, engine.events(second.id))
    lineage(events, "login")
    monkeypatch.setenv("LEDGERFLOW_HOME", str(tmp_path))
    runner = CliRunner()
    for args in (["show", first.id], ["events", first.id], ["verify", first.id],
                 ["export", first.id, "-o", str(tmp_path / "run.jsonl")], ["watch", first.id]):
        result = runner.invoke(app, [*args, "--database", database_url])
        assert result.exit_code in (0, 1), (args, result.output)
        assert "Traceback" not in result.output
    verified = runner.invoke(app, ["verify", "--file", str(tmp_path / "run.jsonl")])
    assert verified.exit_code == 0, verified.output
