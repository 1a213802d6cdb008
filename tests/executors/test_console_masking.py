"""What an attempt writes goes through to the console with the invocation's masked texts
(its run's secrets) shown as ``***``; the captured lines are redacted by the engine before
they are stored, and output outside attempts is left alone. (Logging and warnings, which
pytest intercepts, are covered by the ``ledgerflow worker`` canary in tests/cli.)"""

import io
import sys

import pytest

from ledgerflow.executors import Invocation, OutcomeStatus
from ledgerflow.executors.body import run_invocation

SECRET = "tok-8c1f-s3cr3t"


def leaky(token: str) -> None:
    print(f"using {token}")
    print("token:", token)
    sys.stderr.write(f"warning: old token {token}\n")
    raise PermissionError(f"refused {token}")


def test_echoed_output_shows_masked_texts_as_stars(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    invocation = Invocation("run-1", "leaky", 1, leaky, (SECRET,), {}, masked=(SECRET,))
    outcome = run_invocation(invocation, (SECRET,), {})
    print(f"outside any attempt: {SECRET}")

    assert outcome.status is OutcomeStatus.FAILED
    console = stdout.getvalue() + stderr.getvalue()
    assert console.count(SECRET) == 1 and f"outside any attempt: {SECRET}" in stdout.getvalue()
    assert "using ***\n" in stdout.getvalue() and "token: ***\n" in stdout.getvalue()
    assert stderr.getvalue() == "warning: old token ***\n"
    assert [line.message for line in outcome.logs][:2] == [f"using {SECRET}", f"token: {SECRET}"]
