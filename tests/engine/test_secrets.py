"""Secret parameters: declared, recorded as a keyed hash, redacted, and given again to resume."""

import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

import ledgerflow as lf
from ledgerflow.cli import app
from ledgerflow.cli.errors import ParameterError
from ledgerflow.cli.parameters import parse_parameters
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.engine.secret_restore import SecretMismatch, SecretMissing
from ledgerflow.engine.secrets import RunSecrets, SecretHasher, is_marker

from ..crashing import CrashingExecutor

SECRET = "hunter2-5f2b9c1e"
FLOWS = textwrap.dedent(
    '''
    import logging
    from typing import Any

    import ledgerflow as lf

    SEEN: list[dict[str, Any]] = []


    def seen_key(inputs):
        SEEN.append(dict(inputs))
        return lf.inputs_hash(inputs)


    @lf.task
    def length(password: str) -> int:
        print("logging in with", password)
        logging.getLogger("login").warning("password is %r", password)
        return len(password)


    @lf.task(cache_key=seen_key)
    def salted(password: str, salt: str) -> int:
        return len(password) * 100 + len(salt)


    @lf.task
    def plus_one(x: int) -> int:
        return x + 1


    @lf.task
    def reject(password: str) -> int:
        raise PermissionError(f"no access with {password}")


    @lf.flow
    def login(password: lf.Secret[str], user: str = "ada"):
        return {"length": plus_one(length(password)), "salted": salted(password, user)}


    @lf.flow(secrets=["token"])
    def refused(token, user: str = "ada"):
        return reject(token)


    @lf.flow
    def with_default(password: lf.Secret[str] = "default-secret"):
        return length(password)


    @lf.flow
    def numeric(pin: lf.Secret[int]):
        return plus_one(pin)


    @lf.flow
    def returns_it(password: lf.Secret[str]):
        return {"oops": password}
    '''
)


@pytest.fixture
def flows_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("LEDGERFLOW_RESULT_KEY", raising=False)
    monkeypatch.delenv("LEDGERFLOW_SECRET_PASSWORD", raising=False)
    path = tmp_path / "secret_flows.py"
    path.write_text(FLOWS)
    return path


def _flow(flows_file: Path, name: str) -> lf.Flow[..., Any]:
    return load_flow(f"{flows_file}:{name}")


def _crashed(database_url: str, tmp_path: Path, flows_file: Path, **params: Any) -> str:
    """A run of ``login`` whose driver died when it was about to run ``plus_one``."""
    with lf.Engine(database_url, CrashingExecutor("plus_one"), home=tmp_path) as engine:
        with pytest.raises(SystemExit):
            engine.run(_flow(flows_file, "login"), **params)
        return engine.runs()[0].run_id


# -- declaring ---------------------------------------------------------------------------


def test_secrets_are_declared_by_annotation_or_by_name(flows_file: Path) -> None:
    assert _flow(flows_file, "login").secrets == {"password"}
    assert _flow(flows_file, "refused").secrets == {"token"}

    @lf.flow(secrets="key")
    def single(key: str, pin: lf.Secret[int] | None = None) -> None: ...

    assert single.secrets == {"key", "pin"}


def test_unknown_names_in_secrets_are_refused_when_decorating() -> None:
    known = r"'pasword', which is not a parameter \(known: password\)"
    with pytest.raises(lf.FlowDefinitionError, match=known):

        @lf.flow(secrets=["pasword"])
        def typo(password: str) -> None: ...


def test_postponed_annotations_are_resolved(tmp_path: Path) -> None:
    path = tmp_path / "postponed.py"
    path.write_text(
        "from __future__ import annotations\nimport ledgerflow as lf\n\n"
        "@lf.flow\ndef f(password: lf.Secret[str], n: int = 1):\n    return None\n"
    )
    assert load_flow(f"{path}:f").secrets == {"password"}
    unresolved = tmp_path / "unresolved.py"
    unresolved.write_text(
        "from __future__ import annotations\nimport ledgerflow as lf\n\n"
        "@lf.flow\ndef f(password: Nowhere.Secret[str]):\n    return None\n"
    )
    with pytest.raises(lf.FlowDefinitionError, match="cannot resolve the annotation"):
        load_flow(f"{unresolved}:f")


# -- hashing and redacting ---------------------------------------------------------------


def test_the_keyed_hash_is_stable_per_key_and_value() -> None:
    hasher = SecretHasher(b"key one")
    marker = hasher.marker(SECRET)
    assert is_marker(marker) and marker["secret"].startswith("hmac-sha256:")
    assert SECRET not in orjson.dumps(marker).decode()
    assert hasher.digest(SECRET) == SecretHasher(b"key one").digest(SECRET)
    assert hasher.digest(SECRET) != hasher.digest(SECRET + "!")
    assert hasher.digest(SECRET) != SecretHasher(b"key two").digest(SECRET)
    assert hasher.digest({"b": 1, "a": 2}) == hasher.digest({"a": 2, "b": 1})
    assert not is_marker({"secret": "plain"}) and not is_marker("hmac-sha256:00")


def test_redaction_covers_printed_repr_and_json_forms_and_container_leaves() -> None:
    tricky = "it's\\a\nsecret"
    secrets = RunSecrets(
        {"a": SECRET, "b": tricky, "c": {"user": "ada-lovelace", "pin": 123456, "x": "ab"}},
        SecretHasher(b"k"),
    )
    text = f"{SECRET} {tricky!r} {orjson.dumps(tricky).decode()} ada-lovelace 123456 ab"
    assert secrets.redact(text) == '*** "***" "***" *** *** ab'  # "ab" is too short to redact
    assert secrets.redact({"message": [f"x{SECRET}y"], "n": 1}) == {"message": ["x***y"], "n": 1}


def test_cache_keys_see_keyed_hashes_in_place_of_secrets() -> None:
    hasher = SecretHasher(b"k")
    secrets = RunSecrets({"password": SECRET, "pin": 123456}, hasher)
    keyed = secrets.keyed({"p": SECRET, "url": f"db://{SECRET}@host", "pins": [123456, 7], "n": 3})
    digest, pin = hasher.digest(SECRET), hasher.digest(123456)
    assert keyed == {"p": digest, "url": f"db://{digest}@host", "pins": [pin, 7], "n": 3}


# -- running -----------------------------------------------------------------------------


def test_the_task_gets_the_value_and_the_log_a_keyed_hash(
    database_url: str, tmp_path: Path, flows_file: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(_flow(flows_file, "login"), password=SECRET)
        assert run.result() == {"length": len(SECRET) + 1, "salted": len(SECRET) * 100 + 3}
        created = engine.events(run.id)[0].payload
        assert created["parameters"]["user"] == "ada"
        assert created["parameters"]["password"] == SecretHasher.for_home(tmp_path).marker(SECRET)
        assert run.parameters["password"] == created["parameters"]["password"]
        stored = orjson.dumps([e.payload for e in engine.events(run.id)]).decode()
        assert SECRET not in stored
        assert [line.message for line in engine.logs(run.id)] == [
            "logging in with ***", "password is '***'",
        ]


def test_cache_keys_use_the_keyed_hash_and_hit_across_runs(
    database_url: str, tmp_path: Path, flows_file: Path
) -> None:
    login = _flow(flows_file, "login")
    seen = login.fn.__globals__["SEEN"]
    with lf.Engine(database_url, home=tmp_path) as engine:
        first = engine.run(login, password=SECRET)
        again = engine.run(login, password=SECRET)
        other = engine.run(login, password="another-secret")
    digest = SecretHasher.for_home(tmp_path).digest(SECRET)
    assert seen[0] == {"password": digest, "salt": "ada"}
    assert first.tasks["salted"].state == "SUCCEEDED"
    assert again.tasks["salted"].state == "CACHED"
    assert other.tasks["salted"].state == "SUCCEEDED"
    assert other.result()["salted"] == len("another-secret") * 100 + 3


def test_errors_and_failure_messages_are_redacted(
    database_url: str, tmp_path: Path, flows_file: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(_flow(flows_file, "refused"), token=SECRET)
        error = run.tasks["reject"].error
        assert error is not None and error["message"] == "no access with ***"
        assert SECRET not in error["traceback"]
        assert "PermissionError: no access with ***" in error["traceback"]
        with pytest.raises(lf.RunFailed) as failed:
            run.result()
        assert SECRET not in str(failed.value)
        assert SECRET not in orjson.dumps([e.payload for e in engine.events(run.id)]).decode()


def test_a_flow_that_returns_a_secret_is_refused_before_anything_is_recorded(
    database_url: str, tmp_path: Path, flows_file: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        with pytest.raises(lf.InvalidParameter, match="returns a secret parameter's value") as refused:
            engine.run(_flow(flows_file, "returns_it"), password=SECRET)
        assert SECRET not in str(refused.value)
        assert engine.runs() == []


# -- resuming ----------------------------------------------------------------------------


def test_resume_in_a_fresh_engine_needs_the_secret_and_checks_it(
    database_url: str, tmp_path: Path, flows_file: Path
) -> None:
    run_id = _crashed(database_url, tmp_path, flows_file, password=SECRET)
    with lf.Engine(database_url, home=tmp_path) as engine:
        with pytest.raises(SecretMissing, match="parameter 'password' of flow 'login'") as missing:
            engine.resume(run_id)
        assert "LEDGERFLOW_SECRET_PASSWORD" in str(missing.value)
        with pytest.raises(SecretMismatch, match=r"is not the one run \S+ started with") as wrong:
            engine.resume(run_id, secrets={"password": "not-the-secret"})
        assert SECRET not in str(wrong.value) and "not-the-secret" not in str(wrong.value)
        with pytest.raises(lf.InvalidParameter, match="did not record it as a secret"):
            engine.resume(run_id, secrets={"password": SECRET, "user": "bob"})
        assert engine.storage.log.run(run_id).owner != engine.owner  # nothing was taken over
        run = engine.resume(run_id, secrets={"password": SECRET})
        assert run.result() == {"length": len(SECRET) + 1, "salted": len(SECRET) * 100 + 3}
        assert engine.verify(run_id).ok


def test_resume_takes_the_secret_from_the_environment(
    database_url: str, tmp_path: Path, flows_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _crashed(database_url, tmp_path, flows_file, password=SECRET)
    monkeypatch.setenv("LEDGERFLOW_SECRET_PASSWORD", "wrong-value")
    with lf.Engine(database_url, home=tmp_path) as engine:
        with pytest.raises(SecretMismatch, match="from LEDGERFLOW_SECRET_PASSWORD"):
            engine.resume(run_id)
        monkeypatch.setenv("LEDGERFLOW_SECRET_PASSWORD", SECRET)
        assert engine.resume(run_id).state == "SUCCEEDED"


def test_a_secret_recorded_under_another_key_says_so(
    database_url: str, tmp_path: Path, flows_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _crashed(database_url, tmp_path, flows_file, password=SECRET)
    monkeypatch.setenv("LEDGERFLOW_RESULT_KEY", "a different deployment key")
    with (
        lf.Engine(database_url, home=tmp_path) as engine,
        pytest.raises(SecretMismatch, match="recorded it under another key"),
    ):
        engine.resume(run_id, secrets={"password": SECRET})


def test_a_secret_with_a_default_and_a_non_string_secret_resume(
    database_url: str, tmp_path: Path, flows_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        defaulted = engine.submit(_flow(flows_file, "with_default"))
        numeric = engine.submit(_flow(flows_file, "numeric"), pin=123456)
        assert engine.resume(defaulted).result() == len("default-secret")
        monkeypatch.setenv("LEDGERFLOW_SECRET_PIN", "123456")  # text, read as JSON to match
        assert engine.resume(numeric).result() == 123457


def test_restart_needs_the_secret_too(database_url: str, tmp_path: Path, flows_file: Path) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(_flow(flows_file, "refused"), token=SECRET)
        with pytest.raises(SecretMissing, match="parameter 'token'"):
            engine.restart(run.id)
        again = engine.restart(run.id, secrets={"token": SECRET})
        assert again.tasks["reject"].attempts == 2
        assert SECRET not in orjson.dumps([e.payload for e in engine.events(run.id)]).decode()


def test_a_worker_takes_secrets_from_its_environment(
    database_url: str, tmp_path: Path, flows_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run_id = engine.submit(_flow(flows_file, "login"), password=SECRET)
    with lf.Worker(database_url, home=tmp_path) as worker:
        assert worker.run_once() == [run_id]  # claimed, but it cannot drive it: left as it is
        assert worker.engine.get_run(run_id).state == "SCHEDULED"
        worker.engine.storage.log.release(run_id, worker.engine.owner)  # as if the claim lapsed
        assert worker.run_once() == []  # this worker skips it a while
    monkeypatch.setenv("LEDGERFLOW_SECRET_PASSWORD", SECRET)
    with lf.Worker(database_url, home=tmp_path) as worker:  # a worker that has the secret
        assert worker.run_once() == [run_id]
        assert worker.engine.get_run(run_id).result()["length"] == len(SECRET) + 1


# -- command line ------------------------------------------------------------------------


def test_a_secret_that_does_not_convert_is_not_quoted(flows_file: Path) -> None:
    with pytest.raises(ParameterError) as refused:
        parse_parameters(_flow(flows_file, "numeric"), [f"pin={SECRET}"])
    assert SECRET not in str(refused.value) and "the parameter is secret" in str(refused.value)
    assert parse_parameters(_flow(flows_file, "numeric"), ["pin=42"]) == {"pin": 42}


def test_the_command_line_takes_secrets_and_never_prints_them(
    database_url: str, tmp_path: Path, flows_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def cli(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, "--database", database_url])
        assert result.exit_code == code, result.output
        assert SECRET not in result.output
        return result.output

    out = cli("run", f"{flows_file}:refused", "-p", f"token={SECRET}", code=1)
    assert "no access with ***" in out
    run_id = next(line.split()[-1] for line in out.splitlines() if line.startswith("run id:"))
    assert "hmac-sha256:" in cli("show", run_id)
    assert "hmac-sha256:" in cli("events", run_id, "--json")
    cli("events", run_id)
    assert "parameter 'token'" in cli("restart", run_id, code=2)
    assert "no access with ***" in cli("restart", run_id, "-p", f"token={SECRET}", code=1)
    with lf.Engine(database_url, home=tmp_path) as engine:
        assert engine.get_run(run_id).tasks["reject"].attempts == 2
    crashed = _crashed(database_url, tmp_path, flows_file, password=SECRET)
    assert "is not the one run" in cli("resume", crashed, "-p", "password=nope", code=2)
    assert "state: SUCCEEDED" in cli("resume", crashed, "-p", f"password={SECRET}")
    assert "logging in with ***" in cli("logs", crashed)
