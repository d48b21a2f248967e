"""The ASGI app: routing from `routes.ENDPOINTS`, bearer tokens, JSON bodies, problem documents,
metrics, probes and the OpenAPI document.

`create_app(Settings(...))` builds it (tests, `dsc serve` with one process); `app_from_env()` is
the factory uvicorn calls in each worker process of `dsc serve --workers N`, reading the same
settings from `DSC_SERVE_*` variables (never a secret: the token cache, the body limit, paths).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from host_tools.errors import DscError
from host_tools.web import openapi
from host_tools.web import softcard as softcard_web
from host_tools.web.metrics import CONTENT_TYPE, Metrics
from host_tools.web.pool import RegistryPool
from host_tools.web.problems import Problem
from host_tools.web.routes import ENDPOINTS, Call, Endpoint, Field
from provisioning import apiclients, audit, policy, schema
from provisioning.errors import (
    AuditError,
    CardStateError,
    ChallengeLimitError,
    InvalidInputError,
    MalformedResponseError,
    MasterKeyError,
    NotFoundError,
    ProvisioningError,
    RegistryError,
    SoftCardRefusal,
    TamperedRowError,
    UserStateError,
)
from provisioning.registry import Registry, default_db_url

log = logging.getLogger("dsc.serve")


@dataclass
class Settings:
    db_url: str
    key_file: Path | None = None
    pool_size: int = 4
    max_body: int = 16 * 1024               # bytes
    token_cache_seconds: float = 2.0        # how long a checked token is trusted (revocation lag)
    clock: Callable[[], float] = time.time

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        key = env.get("DSC_MASTER_KEY_FILE")
        return cls(db_url=env.get("DSC_DB") or default_db_url(),
                   key_file=Path(key) if key else None,
                   pool_size=int(env.get("DSC_SERVE_POOL", "4")),
                   max_body=int(env.get("DSC_SERVE_MAX_BODY", str(16 * 1024))),
                   token_cache_seconds=float(env.get("DSC_SERVE_TOKEN_CACHE", "2")))


class Service:
    """What the routes share: the registry pool, the token cache and the metrics."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = RegistryPool(settings.db_url, settings.key_file, settings.pool_size,
                                 clock=settings.clock)
        self.limiter = anyio.CapacityLimiter(settings.pool_size)
        self.metrics = Metrics()
        self._tokens: dict[str, tuple[apiclients.ApiClient, float]] = {}
        self._tokens_lock = threading.Lock()

    async def run(self, operator: str, fn: Callable[[Registry], Any]) -> Any:
        def work() -> Any:
            with self.pool.registry(operator) as reg:
                return fn(reg)
        return await anyio.to_thread.run_sync(work, limiter=self.limiter)

    async def client(self, request: Request, scope: str) -> apiclients.ApiClient:
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise Problem("unauthenticated", "give an API client's token as "
                          "`Authorization: Bearer <token>`")
        token = token.strip()
        digest = apiclients.token_hash(token)
        now = time.monotonic()
        with self._tokens_lock:
            hit = self._tokens.get(digest)
        if hit is not None and hit[1] > now:
            found = hit[0]
        else:
            try:
                found = await self.run("api", lambda reg: apiclients.authenticate(reg, token))
            except apiclients.AuthenticationError as e:
                raise Problem("unauthenticated", str(e)) from None
            if self.settings.token_cache_seconds > 0:
                with self._tokens_lock:
                    if len(self._tokens) > 1000:
                        self._tokens.clear()
                    self._tokens[digest] = (found, now + self.settings.token_cache_seconds)
        if found.scope != scope:
            raise Problem("forbidden-scope", f"API client {found.name} has scope {found.scope}; "
                          f"this call needs {scope}")
        return found


# --- bodies ---------------------------------------------------------------------------------------
async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise Problem("body-too-large", f"the body may be at most {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem("body-too-large", f"the body may be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes, fields: tuple[Field, ...]) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates,
                          parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise Problem("malformed-json", f"the body is not valid JSON: {str(e)[:120]}") from None
    if not isinstance(data, dict):
        raise Problem("malformed-json", "the body must be a JSON object")
    known = {f.name: f for f in fields}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise Problem("invalid-field", f"unknown field {unknown[0][:40]!r}; known: "
                      f"{', '.join(known)}", field=unknown[0][:40])
    for f in fields:
        if f.name not in data or (data[f.name] is None and f.kind != "integer-or-null"):
            if f.required:
                raise Problem("invalid-field", f"{f.name} is required", field=f.name)
            data.pop(f.name, None)
            continue
        _check_field(f, data[f.name])
    return data


def _check_field(f: Field, value: Any) -> None:
    def bad(what: str) -> Problem:
        return Problem("invalid-field", f"{f.name} must be {what}", field=f.name)

    if f.kind == "string":
        if not isinstance(value, str):
            raise bad("a string")
        if len(value) > f.max_len:
            raise bad(f"at most {f.max_len} characters")
        if f.enum and value not in f.enum:
            raise bad("one of " + ", ".join(f.enum))
    elif f.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
    elif f.kind == "integer-or-null":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise bad("an integer or null")
    elif f.kind == "string-list":
        if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= 64
                                                  for v in value):
            raise bad("a list of strings")


def _check_path(params: dict[str, str]) -> None:
    cid = params.get("id")
    if cid is not None and not (len(cid) == 16 and all(c in "0123456789abcdef" for c in cid)):
        raise Problem("unknown-challenge", "no such challenge")
    for name in ("user", "serial", "device_type"):
        value = params.get(name)
        if value is not None and (len(value) > 200 or not value.isprintable()):
            raise Problem("invalid-input", f"{name} is not acceptable")


# --- errors ---------------------------------------------------------------------------------------
def problem_for(e: BaseException) -> Problem:
    """The problem document for a library exception (its message never holds a secret)."""
    if isinstance(e, Problem):
        return e
    if isinstance(e, policy.PolicyRefusal):
        return Problem(e.reason, str(e))
    if isinstance(e, AuditError):
        return Problem("audit-broken", str(e))
    if isinstance(e, TamperedRowError):  # logged and audited by the registry
        return Problem("tampered-row", "a row that decides this login fails its integrity "
                       "check; nothing was done and the refusal is logged")
    if isinstance(e, ChallengeLimitError):
        reason = {"rate limited": "rate-limited", "too many open": "too-many-open"}.get(
            e.reason, "challenges-exhausted")
        extra = {"retry_after": e.retry_after} if e.retry_after is not None else {}
        return Problem(reason, str(e), **extra)
    if isinstance(e, MalformedResponseError):
        return Problem("malformed-response", str(e))
    if isinstance(e, RegistryError) or _database_error(e):
        return Problem("registry-unavailable", "the registry database is unavailable or "
                       "failed; nothing was done that was not committed: retry")
    if isinstance(e, NotFoundError):
        return Problem("not-found", str(e))
    if isinstance(e, SoftCardRefusal):
        return Problem(e.reason, str(e), status_of_card=e.status)
    if isinstance(e, CardStateError):
        return Problem("card-state", str(e), status_of_card=e.status)
    if isinstance(e, UserStateError):
        return Problem("user-state", str(e))
    if isinstance(e, InvalidInputError):
        return Problem("invalid-input", str(e))
    if isinstance(e, MasterKeyError):
        log.error("master key problem: %s", e)
        return Problem("internal-error", "the service cannot use its master key")
    if isinstance(e, (DscError, ProvisioningError)):
        return Problem("internal-error", str(e))
    log.exception("unexpected error (%s)", type(e).__name__)
    return Problem("internal-error", "unexpected error; it is logged")


def _database_error(e: BaseException) -> bool:
    return isinstance(e, sqlite3.Error) or type(e).__module__.startswith("psycopg")


# --- routes ---------------------------------------------------------------------------------------
def _endpoint(service: Service, ep: Endpoint) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            params = dict(request.path_params)
            client = await service.client(request, ep.scope)
            _check_path(params)
            body: dict[str, Any] = {}
            if ep.body is not None:
                ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
                if ctype != "application/json":
                    raise Problem("unsupported-media-type", "send the body as application/json")
                body = parse_json(await _read_body(request, service.settings.max_body),
                                  ep.body)
            query = {f.name: request.query_params[f.name] for f in ep.query
                     if f.name in request.query_params}

            def call(reg: Registry) -> tuple[int, dict[str, Any]]:
                return ep.handler(Call(reg, client.name, params, body, query))

            status, data = await service.run(f"api:{client.name}", call)
            if "status" in data and "accepted" in data and "purpose" in data:
                service.metrics.outcome(data["purpose"], data["status"], data.get("reason"))
            return JSONResponse(data, status_code=status)
        except BaseException as e:
            if not isinstance(e, Exception):
                raise
            problem = problem_for(e)
            status = problem.status
            service.metrics.problem(problem.reason)
            return problem.response()
        finally:
            service.metrics.request(ep.method, ep.path, status, time.perf_counter() - started)
    return handle


def create_app(settings: Settings) -> Starlette:
    service = Service(settings)
    routes = [Route(ep.path, _endpoint(service, ep), methods=[ep.method]) for ep in ENDPOINTS]
    document = openapi.document()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        def check(reg: Registry) -> dict[str, Any]:
            schema.require_current(reg.db)
            if not audit.head_ok(reg.db, reg.sealer):
                raise AuditError("the audit head fails its MAC check")
            return {"status": "ready", "schema": schema.VERSION}
        try:
            return JSONResponse(await service.run("api", check))
        except Exception as e:
            problem = problem_for(e)
            if problem.status < 500:
                problem = Problem("registry-unavailable", problem.detail)
            service.metrics.problem(problem.reason)
            return problem.response()

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(service.metrics.render(), media_type=CONTENT_TYPE)

    async def spec(request: Request) -> Response:
        return JSONResponse(document)

    async def http_error(request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, HTTPException) else 500
        reason = {404: "no-route", 405: "method-not-allowed"}.get(code, "internal-error")
        service.metrics.problem(reason)
        service.metrics.request(request.method, "unmatched", code, 0.0)
        return Problem(reason, f"{request.method} {request.url.path[:100]}: "
                       f"{'no such endpoint' if code == 404 else 'method not allowed'}").response()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # What start-up made (modules, routes, templates) lives as long as the process: out of
        # the collector's generations, a full collection under load no longer walks it all.
        gc.freeze()
        try:
            yield
        finally:
            service.pool.close()

    routes += [Route("/healthz", healthz), Route("/readyz", readyz),
               Route("/metrics", metrics), Route("/openapi.json", spec)]
    from starlette.routing import BaseRoute, Mount
    from starlette.staticfiles import StaticFiles

    from host_tools.web import console, portal, softcard_pages, webui
    desk, holders = console.Console(service), portal.Portal(service)
    pages: list[BaseRoute] = [*routes, *desk.routes(), *holders.routes()]
    pages += softcard_web.routes(service)
    pages += softcard_pages.routes(desk, holders)  # the soft card's console and portal pages
    pages.append(Mount("/static/web", StaticFiles(directory=str(webui.STATIC)), name="static"))
    app = Starlette(routes=pages, exception_handlers={HTTPException: http_error},
                    lifespan=lifespan)
    app.state.service = service
    return app


def app_from_env() -> Starlette:
    """uvicorn's factory in each `dsc serve` worker process."""
    return create_app(Settings.from_env())


def check_registry(settings: Settings) -> None:
    """Open the registry once before serving: a wrong URL or key fails at start, clearly."""
    Registry.open(settings.db_url, settings.key_file).close()
