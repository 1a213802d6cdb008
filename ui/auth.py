"""Who may use the web app: a bearer token or a login cookie, and CSRF tokens for actions.

With a token configured, every request but ``/login``, ``/logout`` and ``/static/`` needs
``Authorization: Bearer <token>`` or the session cookie that ``POST /login`` sets (a page
without either is redirected to the login page; an API call gets 401). Every
state-changing request also needs ``X-CSRF-Token``: the token ``GET /api/csrf`` (or the
login response) gives for the session, or for the bearer token. Without a configured
token anyone who reaches the server may read (the CLI binds to loopback), and actions
still need the CSRF header, ``GET /api/csrf`` starting a session for it: a page on another
site can then neither read the token nor send the header, so it cannot make a browser
cancel a run. Sessions are stateless: the cookie is ``issued.nonce.signature`` (HMAC-SHA256
under a key derived from the token, or a random key per process without one) and lasts
``SESSION_TTL`` seconds. Every comparison is constant-time.
"""

import hashlib
import hmac
import secrets
import time
import unicodedata
from collections.abc import Callable
from typing import Annotated
from urllib.parse import unquote, urlencode, urlsplit

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .models import CsrfOut, LoginIn

SESSION_COOKIE = "ledgerflow_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL = 12 * 3600
PUBLIC_PATHS = frozenset({"/login", "/logout"})
STATIC_PREFIX = "/static/"  # stylesheet and script only: no data
_BEARER_PRINCIPAL = "bearer"
_CONTROL = frozenset({"Cc", "Cf", "Zl", "Zp"})  # control, format, line and paragraph separators


class Sessions:
    """Checks the token, signs and checks session cookies, and derives CSRF tokens."""

    def __init__(self, token: str | None, clock: Callable[[], float] = time.time) -> None:
        if token is not None and not token.strip():
            raise ValueError("the UI token is empty: give a non-empty token, or none for no auth")
        self.token = token
        self._clock = clock
        self._key = (
            hmac.new(token.encode(), b"ledgerflow ui sessions", hashlib.sha256).digest()
            if token is not None
            else secrets.token_bytes(32)
        )

    @property
    def is_required(self) -> bool:
        """True if requests must carry the token or a session."""
        return self.token is not None

    def is_token(self, candidate: str) -> bool:
        """True if ``candidate`` is the configured token."""
        return self.token is not None and hmac.compare_digest(candidate.encode(), self.token.encode())

    def new_session(self) -> tuple[str, str]:
        """A fresh session: its cookie value and its id."""
        session_id = f"{int(self._clock())}.{secrets.token_urlsafe(16)}"
        return f"{session_id}.{self._sign('session', session_id)}", session_id

    def session_id(self, cookie: str | None) -> str | None:
        """The id of the session ``cookie`` holds, if it is signed here and not expired."""
        if not cookie or cookie.count(".") != 2:
            return None
        issued, nonce, signature = cookie.split(".")
        session_id = f"{issued}.{nonce}"
        if not hmac.compare_digest(signature.encode(), self._sign("session", session_id).encode()):
            return None
        is_fresh = issued.isdigit() and self._clock() - int(issued) < SESSION_TTL
        return session_id if is_fresh else None

    def principal(self, request: Request) -> str | None:
        """Who sends ``request``: its session id, ``"bearer"`` for the token, or None."""
        session_id = self.session_id(request.cookies.get(SESSION_COOKIE))
        if session_id is not None:
            return session_id
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.is_token(credential.strip()):
            return _BEARER_PRINCIPAL
        return None

    def csrf_token(self, principal: str) -> str:
        """The CSRF token of a session (or of the bearer token)."""
        return self._sign("csrf", principal)

    def is_csrf_valid(self, principal: str, given: str) -> bool:
        """True if ``given`` is the CSRF token of ``principal``."""
        return hmac.compare_digest(given.encode(), self.csrf_token(principal).encode())

    def _sign(self, purpose: str, text: str) -> str:
        return hmac.new(self._key, f"{purpose}:{text}".encode(), hashlib.sha256).hexdigest()


class AuthMiddleware:
    """Answers 401 to a request without the token or a session, when a token is configured."""

    def __init__(self, app: ASGIApp, sessions: Sessions) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.sessions.is_required or _is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.sessions.principal(request) is None and is_page_request(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            await RedirectResponse(f"/login?{urlencode({'next': target})}", 303)(scope, receive, send)
            return
        if self.sessions.principal(request) is None:
            refusal = JSONResponse(
                {"detail": "authentication required: send 'Authorization: Bearer <token>' or log in "
                 "with POST /login (the token is LEDGERFLOW_UI_TOKEN or --token of `ledgerflow ui`)"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def local_path(target: str) -> str:
    """``target`` if it is a path on this server (where a login may send the browser back
    to), else ``/``. A path starts with one ``/``, has no scheme and no host, and holds no
    backslash (browsers read it as ``/``) and no control character, also once
    percent-decoded: ``//evil.com``, ``/\\evil.com``, ``/%5Cevil.com``, ``/%09/evil.com``
    and ``javascript:...`` all give ``/``."""
    for text in (target, unquote(target)):
        parts = urlsplit(text)
        if (
            not text.startswith("/")
            or text.startswith("//")
            or parts.scheme
            or parts.netloc
            or any(char == "\\" or unicodedata.category(char) in _CONTROL for char in text)
        ):
            return "/"
    return target


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(STATIC_PREFIX)


def is_page_request(request: Request) -> bool:
    """True for a browser's GET of a page (HTML, not the API): sent to the login page."""
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and not request.url.path.startswith("/api")
    )


def sessions_of(request: Request) -> Sessions:
    """The app's ``Sessions``."""
    found = request.app.state.sessions
    assert isinstance(found, Sessions)
    return found


def require_csrf(
    request: Request,
    csrf: Annotated[str | None, Header(alias=CSRF_HEADER, description="from GET /api/csrf")] = None,
) -> None:
    """Refuse (403) a state-changing request without its session's CSRF token."""
    sessions = sessions_of(request)
    principal = sessions.principal(request)
    if principal is None or not csrf or not sessions.is_csrf_valid(principal, csrf):
        reason = "missing" if not csrf else "wrong"
        raise HTTPException(
            403,
            f"{reason} {CSRF_HEADER} header: state-changing requests need the CSRF token "
            "that GET /api/csrf gives (with the session cookie it goes with)",
        )


CsrfChecked = Depends(require_csrf)
router = APIRouter(tags=["auth"])


def csrf_for(request: Request) -> tuple[str, str | None]:
    """The CSRF token of the request's session, and the cookie of a new session when it had
    none. With a configured token only a login makes a session: a public page (the login
    form) asked for without one gets no CSRF token and no cookie."""
    sessions = sessions_of(request)
    principal = sessions.principal(request)
    cookie = None
    if principal is None:
        if sessions.is_required:
            return "", None
        cookie, principal = sessions.new_session()
    return sessions.csrf_token(principal), cookie


def set_session_cookie(response: Response, request: Request, cookie: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=SESSION_TTL, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip


@router.post("/login", response_model=CsrfOut)
def login(body: LoginIn, request: Request, response: Response) -> CsrfOut:
    """Exchange the token for a session cookie; returns the session's CSRF token."""
    sessions = sessions_of(request)
    if not sessions.is_required:
        raise HTTPException(
            400, "this server has no token configured: no login is needed (see GET /api/csrf)"
        )
    if not sessions.is_token(body.token):
        raise HTTPException(401, "wrong token", headers={"WWW-Authenticate": "Bearer"})
    cookie, session_id = sessions.new_session()
    set_session_cookie(response, request, cookie)
    return CsrfOut(csrf_token=sessions.csrf_token(session_id))


@router.post("/logout", status_code=204)
def logout(response: Response) -> None:
    """Drop the session cookie."""
    response.delete_cookie(SESSION_COOKIE)


@router.get("/api/csrf", response_model=CsrfOut)
def csrf_token(request: Request, response: Response) -> CsrfOut:
    """The CSRF token for this session (or bearer token); without a configured token, this
    starts a session if the request has none."""
    csrf, cookie = csrf_for(request)
    if cookie is not None:
        set_session_cookie(response, request, cookie)
    return CsrfOut(csrf_token=csrf)
