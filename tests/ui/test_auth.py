"""Token and CSRF checks of the web API."""

import pytest
from fastapi.testclient import TestClient

from ledgerflow.ui import SESSION_COOKIE, Sessions

from .conftest import MakeClient, csrf_headers

TOKEN = "s3cret-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_with_a_token_every_call_needs_it(make_client: MakeClient) -> None:
    with make_client(token=TOKEN) as client:
        for path in ("/api/runs", "/api/limits", "/openapi.json", "/api/csrf"):
            refused = client.get(path)
            assert refused.status_code == 401, path
            assert refused.headers["www-authenticate"] == "Bearer"
            assert "authentication required" in refused.json()["detail"]
        assert client.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/runs", headers={"Authorization": TOKEN}).status_code == 401
        assert client.get("/api/runs", headers=BEARER).status_code == 200
        assert client.post("/api/limits/gpu", json={"limit": 1}).status_code == 401


def test_login_sets_a_cookie_that_authenticates(make_client: MakeClient) -> None:
    with make_client(token=TOKEN) as client:
        wrong = client.post("/login", json={"token": "guess"})
        assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong token"
        assert SESSION_COOKIE not in client.cookies
        login = client.post("/login", json={"token": TOKEN})
        assert login.status_code == 200
        assert "httponly" in login.headers["set-cookie"].lower()
        assert "samesite=strict" in login.headers["set-cookie"].lower()
        assert client.get("/api/runs").status_code == 200
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        assert client.post("/api/limits/gpu", json={"limit": 1}, headers=csrf).status_code == 200
        assert client.post("/logout").status_code == 204
        assert client.get("/api/runs").status_code == 401


def test_a_tampered_session_cookie_is_refused(make_client: MakeClient) -> None:
    with make_client(token=TOKEN) as client:
        client.post("/login", json={"token": TOKEN})
        issued, nonce, signature = client.cookies[SESSION_COOKIE].split(".")
        client.cookies.set(SESSION_COOKIE, f"{issued}.{nonce}x.{signature}")
        assert client.get("/api/runs").status_code == 401


def test_actions_need_the_csrf_token_besides_the_bearer(make_client: MakeClient) -> None:
    with make_client(token=TOKEN) as client:
        missing = client.post("/api/limits/gpu", json={"limit": 1}, headers=BEARER)
        assert missing.status_code == 403 and "missing X-CSRF-Token" in missing.json()["detail"]
        wrong = client.post("/api/limits/gpu", json={"limit": 1}, headers={**BEARER, "X-CSRF-Token": "x"})
        assert wrong.status_code == 403 and "wrong X-CSRF-Token" in wrong.json()["detail"]
        done = client.post("/api/limits/gpu", json={"limit": 1}, headers=csrf_headers(client, **BEARER))
        assert done.status_code == 200 and done.json()["limit"] == 1


def test_without_a_token_reads_are_open_and_actions_still_need_csrf(client: TestClient) -> None:
    assert client.get("/api/runs").status_code == 200
    assert client.post("/api/limits/gpu", json={"limit": 1}).status_code == 403
    headers = csrf_headers(client)  # starts a session: its cookie goes with the token
    assert SESSION_COOKIE in client.cookies
    assert client.post("/api/limits/gpu", json={"limit": 1}, headers=headers).status_code == 200
    client.cookies.clear()
    assert client.post("/api/limits/gpu", json={"limit": 1}, headers=headers).status_code == 403
    assert client.post("/login", json={"token": "x"}).status_code == 400


def test_sessions_expire_and_tokens_must_not_be_empty() -> None:
    now = [1_000_000.0]
    sessions = Sessions(TOKEN, clock=lambda: now[0])
    cookie, session_id = sessions.new_session()
    assert sessions.session_id(cookie) == session_id
    now[0] += 13 * 3600
    assert sessions.session_id(cookie) is None
    assert Sessions("other").session_id(cookie) is None
    with pytest.raises(ValueError, match="token is empty"):
        Sessions("  ")
