"""What the console and the portal share: server-side sessions, CSRF tokens, form bodies, the
Jinja2 templates and the security headers of every page.

- Sessions live in this process (a random 256-bit id in the cookie, nothing else): `Secure`,
  `HttpOnly`, `SameSite=Strict`, scoped to the page tree's path, and dropped after `idle`
  seconds without a request. A restart signs everyone out.
- Every form carries the session's CSRF token; a POST without it (or with another) is refused
  with 403 before anything is done.
- Every page: a strict Content-Security-Policy (only this service's own style sheet and script,
  no inline script or style), `Cache-Control: no-store` (pages may show a passcode),
  `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`, `X-Content-Type-Options: nosniff`.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store",
           "Pragma": "no-cache", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
           "X-Content-Type-Options": "nosniff"}
MAX_FORM = 8 * 1024

_env = Environment(loader=FileSystemLoader(str(HERE / "templates")),
                   autoescape=select_autoescape(("html",)), trim_blocks=True, lstrip_blocks=True)


class Forbidden(Exception):
    """403: a missing or wrong CSRF token, or a role that may not do this."""


class Session:
    def __init__(self, sid: str, now: float) -> None:
        self.id = sid
        self.csrf = secrets.token_urlsafe(32)
        self.last = now
        self.data: dict[str, Any] = {}


class Sessions:
    """Server-side sessions of one page tree (`/console` or `/portal`)."""

    def __init__(self, cookie: str, path: str, idle: float, clock: Callable[[], float]) -> None:
        self.cookie, self.path, self.idle, self.clock = cookie, path, idle, clock
        self._all: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get(self, request: Request) -> Session | None:
        sid = request.cookies.get(self.cookie, "")
        now = self.clock()
        with self._lock:
            s = self._all.get(sid)
            if s is None:
                return None
            if now - s.last > self.idle:
                del self._all[sid]
                return None
            s.last = now
            return s

    def new(self) -> Session:
        now = self.clock()
        with self._lock:
            for sid in [k for k, v in self._all.items() if now - v.last > self.idle]:
                del self._all[sid]
            s = Session(secrets.token_urlsafe(32), now)
            self._all[s.id] = s
            return s

    def drop(self, s: Session) -> None:
        with self._lock:
            self._all.pop(s.id, None)

    def set_cookie(self, response: Response, s: Session) -> None:
        response.set_cookie(self.cookie, s.id, path=self.path, secure=True, httponly=True,
                            samesite="strict")

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(self.cookie, path=self.path, secure=True, httponly=True,
                               samesite="strict")


async def form(request: Request, session: Session | None) -> dict[str, str]:
    """The urlencoded body of a POST, after its CSRF token was checked against the session."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise Forbidden("the form is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=40)
    except (UnicodeDecodeError, ValueError):
        raise Forbidden("the form could not be read") from None
    data: dict[str, str] = {}
    for key, value in pairs:
        data.setdefault(key, value)
    token = data.pop("csrf", "")
    if session is None or not hmac.compare_digest(token.encode(), session.csrf.encode()):
        raise Forbidden("the form's security token is missing or out of date: reload the page "
                        "and try again")
    return data


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def secure(response: Response) -> Response:
    for k, v in HEADERS.items():
        response.headers[k] = v
    return response
