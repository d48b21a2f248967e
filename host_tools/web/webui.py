"""What the console and the portal share: server-side sessions, CSRF tokens, form bodies, the
Jinja2 templates and the security headers of every page.

- Sessions live in the registry (`provisioning.websessions`: a random 256-bit id in the cookie,
  only its hash, the sealed data and the MACed limits in the database), so any worker process
  serves any session: `Secure`, `HttpOnly`, `SameSite=Strict`, scoped to the page tree's path,
  ended after `idle` seconds without a request or `lifetime` seconds after they began.
- Every form carries the session's CSRF token; a POST without it (or with another) is refused
  with 403 before anything is done.
- Every page: a strict Content-Security-Policy (only this service's own style sheet and script,
  no inline script or style), `Cache-Control: no-store` (pages may show a passcode),
  `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`, `X-Content-Type-Options: nosniff`.
"""

from __future__ import annotations

import email.policy
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from provisioning import websessions
from provisioning.registry import Registry

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
    """One request's view of a session kept in the registry (`provisioning.websessions`)."""

    def __init__(self, sid: str, stored: websessions.Stored) -> None:
        self.id = sid
        self.stored = stored
        self.csrf = str(stored.data.get("csrf", ""))
        raw = stored.data.get("data")
        self.data: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
        self.op: Any = None  # the console's signed-in operator, read again on every request
        self.dropped = False
        self._saved = ""
        self.saved()

    def snapshot(self) -> dict[str, Any]:
        return {"csrf": self.csrf, "data": self.data}

    @property
    def dirty(self) -> bool:
        return json.dumps(self.snapshot(), sort_keys=True) != self._saved

    def saved(self) -> None:
        self._saved = json.dumps(self.snapshot(), sort_keys=True)


class Sessions:
    """Server-side sessions of one page tree (`/console` or `/portal`), kept in the registry so
    that every worker process serves them. Routes go through `wrap`, which writes a session's
    changed data back after the page is made."""

    def __init__(self, service: Any, area: str, cookie: str, path: str, idle: int,
                 lifetime: int) -> None:
        self.service, self.area, self.cookie, self.path = service, area, cookie, path
        self.idle, self.lifetime = idle, lifetime
        self._key = f"dsc.session.{area}"

    async def _run(self, fn: Callable[[Registry], Any]) -> Any:
        return await self.service.run(self.area, fn)

    async def get(self, request: Request) -> Session | None:
        held = request.scope.get(self._key)
        if isinstance(held, Session):
            return None if held.dropped else held
        sid = request.cookies.get(self.cookie, "")
        if not websessions.well_formed(sid):
            return None
        stored = await self._run(lambda reg: websessions.load(reg, self.area, sid,
                                                              idle=self.idle))
        if stored is None:
            return None
        s = Session(sid, stored)
        request.scope[self._key] = s
        return s

    async def new(self, request: Request) -> Session:
        sid, csrf = websessions.new_id(), secrets.token_urlsafe(32)
        stored = await self._run(lambda reg: websessions.create(
            reg, self.area, sid, {"csrf": csrf, "data": {}}, idle=self.idle,
            lifetime=self.lifetime))
        s = Session(sid, stored)
        request.scope[self._key] = s
        return s

    async def drop(self, s: Session) -> None:
        s.dropped = True
        await self._run(lambda reg: websessions.delete(reg, s.stored))

    async def save(self, s: Session) -> None:
        if s.dropped or not s.dirty:
            return
        data = s.snapshot()
        await self._run(lambda reg: websessions.save(reg, s.stored, data, idle=self.idle))
        s.saved()

    async def put_once(self, s: Session, purpose: str, name: str, media_type: str,
                       body: bytes, ttl: int = 600) -> str:
        return str(await self._run(lambda reg: websessions.put_once(
            reg, s.stored, purpose, name, media_type, body, ttl=ttl)))

    async def take_once(self, s: Session, purpose: str,
                        token: str) -> tuple[str, str, bytes] | None:
        found: tuple[str, str, bytes] | None = await self._run(
            lambda reg: websessions.take_once(reg, s.stored, purpose, token))
        return found

    def wrap(self, fn: Callable[[Request], Awaitable[Response]]
             ) -> Callable[[Request], Awaitable[Response]]:
        """The route `fn`, then the session it used written back when its data changed."""
        async def handle(request: Request) -> Response:
            response = await fn(request)
            held = request.scope.get(self._key)
            if isinstance(held, Session):
                await self.save(held)
            return response
        return handle

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


class TooLarge(Exception):
    """413: an upload over its limit (nothing of it was looked at)."""


async def upload(request: Request, session: Session | None,
                 limit: int) -> tuple[dict[str, str], dict[str, bytes]]:
    """The fields and files of a `multipart/form-data` POST of at most `limit` bytes, after its
    CSRF token was checked. The body is read whole (bounded) and parsed by the standard
    library's MIME parser; at most 8 parts, the first of each name counts."""
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data;") or len(ctype) > 200 or \
            not ctype.isprintable():
        raise Forbidden("the form must be sent as multipart/form-data")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise TooLarge(f"the upload may be at most {limit >> 20} MiB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the upload may be at most {limit >> 20} MiB")
        chunks.append(chunk)
    head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode("ascii", "replace")
    msg = BytesParser(policy=email.policy.HTTP).parsebytes(head + b"".join(chunks))
    if not msg.is_multipart():
        raise Forbidden("the form could not be read")
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for number, part in enumerate(msg.iter_parts()):
        if number >= 8:
            raise Forbidden("the form has too many parts")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        body = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            files.setdefault(name, body)
        elif len(body) <= MAX_FORM:
            try:
                fields.setdefault(name, body.decode("utf-8"))
            except UnicodeDecodeError:
                raise Forbidden("the form could not be read") from None
    token = fields.pop("csrf", "")
    if session is None or not hmac.compare_digest(token.encode(), session.csrf.encode()):
        raise Forbidden("the form's security token is missing or out of date: reload the page "
                        "and try again")
    return fields, files


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def secure(response: Response) -> Response:
    for k, v in HEADERS.items():
        response.headers[k] = v
    return response


def attachment(name: str, media_type: str, body: bytes) -> Response:
    """A one-time value served as a download (the page headers: never cached)."""
    safe = "".join(c for c in name if c.isascii() and (c.isalnum() or c in "-_.")) or "download"
    return secure(Response(body, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{safe}"'}))
