"""The soft card's pages and its activation, on `dsc serve` (see docs/softcard.md).

- `GET /softcard` (and `/emulator`, the same page with a fake seed and no server state): the
  page, its static JS/CSS, the MicroPython WebAssembly VM from the project's own npm install
  (`DSC_SOFTCARD_VM_DIR`, default <project>/node_modules/@micropython/micropython-webassembly-
  pyscript), and the firmware files (`/softcard/firmware.json` lists them with their SHA-256:
  firmware/dsc as the boards run it, and firmware/softcard's browser HAL).
- `POST /v1/support/softcards` (support token): a one-time activation code for a user, the URL
  that carries it (in the fragment, which no server log sees) and its QR code as SVG.
- `WS /softcard/v1/activate` (a WebSocket): the page sends the code, the registry uses it up
  (once, in the database: across worker processes too), and the server provisions the page's
  card with `provisioning.softcard.activate` (PROVISION, AUTH, TEST by
  host_tools.client.CardClient) over a `QueueTransport` whose bytes the socket carries: binary
  messages both ways, the card's serial stream. One activation lives on one connection, hence in
  one worker process: `dsc serve --workers N` needs no sticky routing. The handshake is
  refused unless its Origin is this service's own (no cross-site WebSocket hijacking); the
  socket is bounded in message size, message rate, bytes, idle time and total time; a dropped
  connection fails the activation cleanly (nothing is recorded before TEST proved the card).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from host_tools import admin_keys
from host_tools.bridge import QueueTransport
from host_tools.client import CardClient
from host_tools.errors import DscError
from host_tools.qr import qr_svg
from host_tools.web.problems import Problem
from provisioning import softcard
from provisioning.errors import ProvisioningError
from provisioning.keys import default_key_file

if TYPE_CHECKING:
    from host_tools.web.app import Service

log = logging.getLogger("dsc.serve.softcard")

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC = Path(__file__).resolve().parent / "static" / "softcard"
VM_PACKAGE = "@micropython/micropython-webassembly-pyscript"
VM_FILES = ("micropython.mjs", "micropython.wasm")
# The activation socket's bounds (a whole activation: 9 messages from the page, 10 to it, ~0.1 s).
SOCKET_PATH = "/softcard/v1/activate"
MAX_MESSAGE = 4096          # bytes in one message (a protocol frame is at most 697)
MAX_BYTES = 256 * 1024      # bytes the page may send over one activation
RATE = 100.0                # messages per second the page may send, on average...
BURST = 200                 # ...with this many at once
HELLO_SECONDS = 10.0        # the code must come this soon after the handshake
IDLE_SECONDS = 20.0         # silence from the page that ends an activation
SESSION_SECONDS = 120.0     # the longest an activation may take
MAX_ACTIVE = 4              # activations at once in one process (each holds a registry)
POLL_SECONDS = 0.05
# Close codes (RFC 6455): 1000 done, 1008 refused or out of bounds, 1009 message too big,
# 1011 failed, 1013 busy or unavailable (try again later).
CSP = ("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
       "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html",
                 ".mjs": "text/javascript", ".wasm": "application/wasm",
                 ".py": "text/plain; charset=utf-8"}


def vm_dir() -> Path:
    env = os.environ.get("DSC_SOFTCARD_VM_DIR")
    return Path(env) if env else ROOT / "node_modules" / VM_PACKAGE


def firmware_dirs() -> dict[str, Path]:
    """The VM paths the page mounts and where their files come from: the dsc package (in a
    checkout firmware/dsc, installed: the `dsc` package, the same files) and the browser HAL."""
    import dsc
    hal = ROOT / "firmware" / "softcard"
    if not hal.is_dir():  # an installed package: pyproject installs firmware/softcard as softcard
        import softcard as installed  # pyright: ignore[reportMissingImports]
        hal = Path(installed.__file__).resolve().parent
    return {"dsc": Path(dsc.__file__).resolve().parent, "softcard": hal}


def firmware_manifest() -> list[dict[str, str]]:
    out = []
    for mount, base in sorted(firmware_dirs().items()):
        for f in sorted(base.glob("*.py")):
            out.append({"path": f"{mount}/{f.name}",
                        "sha256": hashlib.sha256(f.read_bytes()).hexdigest()})
    return out


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    h = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
         "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
    h.update(extra or {})
    return h


def _file(path: Path) -> Response:
    if not path.is_file():
        return Problem("not-found", "no such file").response()
    return FileResponse(path, media_type=_STATIC_TYPES.get(path.suffix, "application/octet-stream"),
                        headers=_headers())


def routes(service: Service) -> list[BaseRoute]:
    slots = Slots()

    async def page(request: Request) -> Response:
        return _file(STATIC / "index.html")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("softcard.js", "softcard.css", "ssd1306.js", "vault.js"):
            return Problem("not-found", "no such file").response()
        return _file(STATIC / name)

    async def vm(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in VM_FILES:
            return Problem("not-found", "no such file").response()
        return _file(vm_dir() / name)

    async def manifest(request: Request) -> Response:
        return JSONResponse(firmware_manifest(), headers=_headers())

    async def firmware(request: Request) -> Response:
        mount, name = request.path_params["mount"], request.path_params["name"]
        base = firmware_dirs().get(mount)
        if base is None or "/" in name or not name.endswith(".py") or name.startswith("."):
            return Problem("not-found", "no such file").response()
        return _file(base / name)

    async def create(request: Request) -> Response:
        try:
            await service.client(request, "support")
            body = json.loads(await request.body() or b"{}")
            user = body.get("user") if isinstance(body, dict) else None
            if not isinstance(user, str) or not 1 <= len(user) <= 64:
                raise Problem("invalid-field", "give `user`, the holder's name")
            act = await service.run("api:support", lambda reg: softcard.create(reg, user))
        except json.JSONDecodeError:
            return Problem("malformed-json", "the body is not JSON").response()
        except Exception as e:
            from host_tools.web.app import problem_for
            return problem_for(e).response()
        url = f"{request.base_url}softcard#code={act.code}"
        return JSONResponse({**act.as_json(), "url": url, "qr_svg": qr_svg(url)},
                            status_code=201, headers={"Cache-Control": "no-store"})

    async def activation(ws: WebSocket) -> None:
        await activate_socket(service, ws, slots)

    return [Route("/softcard", page), Route("/emulator", page),
            Route("/softcard/static/{name}", static),
            Route("/softcard/vm/{name}", vm),
            Route("/softcard/firmware.json", manifest),
            Route("/softcard/firmware/{mount}/{name}", firmware),
            Route("/v1/support/softcards", create, methods=["POST"]),
            WebSocketRoute(SOCKET_PATH, activation)]


class Slots:
    """How many activations run at once in this process (each holds a pooled registry): at
    most `limit`, or MAX_ACTIVE as it is when a connection asks (a test may lower it)."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit, self.used = limit, 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.used >= (MAX_ACTIVE if self.limit is None else self.limit):
                return False
            self.used += 1
            return True

    def give(self) -> None:
        with self._lock:
            self.used -= 1


def same_origin(ws: WebSocket) -> bool:
    """The handshake comes from a page of this service: its Origin is the scheme and host the
    request was made to. A browser always sends Origin on a WebSocket handshake, and a page of
    another site cannot forge it: that is what stops cross-site WebSocket hijacking. Behind a
    TLS proxy, `--forwarded-allow-ips` makes the scheme `wss` (X-Forwarded-Proto)."""
    origin, host = ws.headers.get("origin", ""), ws.headers.get("host", "")
    if not origin or not host:
        return False
    scheme = "https" if ws.url.scheme in ("wss", "https") else "http"
    return origin.lower() == f"{scheme}://{host}".lower()


class Ended(Exception):
    """The activation ends here with `state` (refused, failed, busy) and a close code."""

    def __init__(self, state: str, detail: str, code: int, reason: str | None = None) -> None:
        super().__init__(detail)
        self.state, self.detail, self.code, self.reason = state, detail, code, reason


@dataclass
class Outcome:
    state: str = "running"                  # running, active, failed
    serial_number: str | None = None
    detail: str = ""


class Link:
    """One activation's socket: bounded reads (size, bytes, rate, idle), the page's bytes into
    the transport, the client's bytes out as binary messages."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.transport = QueueTransport("soft card link")
        self.started = time.monotonic()
        self.received = 0
        self.tokens = float(BURST)
        self.last = self.started
        self.broken: Ended | None = None    # why the page's side ended early

    def end(self, why: Ended) -> None:
        """The page's side is over: the client's next read fails, with `why` in its error (so
        the audit log's `softcard-activate` / `failed` says which bound or event ended it)."""
        if self.broken is None:
            self.broken = why
            self.transport.name = f"soft card link ({why.detail})"
        self.transport.close()

    def _charge(self, size: int) -> None:
        now = time.monotonic()
        self.tokens = min(float(BURST), self.tokens + (now - self.last) * RATE) - 1.0
        self.last = now
        self.received += size
        if size > MAX_MESSAGE:
            raise Ended("failed", f"a message may be at most {MAX_MESSAGE} bytes", 1009)
        if self.received > MAX_BYTES:
            raise Ended("failed", f"an activation may carry at most {MAX_BYTES} bytes", 1008)
        if self.tokens < 0:
            raise Ended("failed", f"more than {RATE:g} messages a second", 1008)

    async def receive(self, timeout: float) -> bytes | str:
        """The next message (bytes or text), within `timeout` seconds and the bounds."""
        with anyio.move_on_after(timeout):
            msg = await self.ws.receive()
            if msg["type"] == "websocket.disconnect":
                raise Ended("failed", "the page closed the connection", 1000)
            data = msg.get("bytes")
            text = msg.get("text")
            self._charge(len(data) if data is not None else len((text or "").encode()))
            return bytes(data) if data is not None else str(text or "")
        raise Ended("failed", f"nothing from the page for {timeout:g} seconds", 1008)

    async def pump_in(self) -> None:
        """The page's bytes (the card's serial output) into the transport, until it ends."""
        try:
            while True:
                data = await self.receive(IDLE_SECONDS)
                if isinstance(data, str):
                    raise Ended("failed", "the card's bytes come as binary messages", 1008)
                self.transport.from_card(data)
        except Ended as e:
            self.end(e)  # the client's next read fails: provisioning stops

    async def pump_out(self, outcome: Outcome) -> None:
        """The client's bytes to the page, until provisioning is over and all is sent."""
        while True:
            out = await anyio.to_thread.run_sync(self.transport.to_card, POLL_SECONDS)
            if out and self.broken is None:
                try:
                    await self.ws.send_bytes(out)
                except (WebSocketDisconnect, RuntimeError, OSError):
                    self.end(Ended("failed", "the page closed the connection", 1000))
            if not out and outcome.state != "running":
                return

    async def watchdog(self) -> None:
        await anyio.sleep(SESSION_SECONDS)
        self.end(Ended("failed", f"an activation may take at most {SESSION_SECONDS:g} seconds",
                       1008))


async def activate_socket(service: Service, ws: WebSocket, slots: Slots) -> None:
    """One activation on one WebSocket (see the module's docstring and docs/softcard.md)."""
    if not same_origin(ws):
        log.warning("soft card activation refused: cross-origin WebSocket handshake "
                    "(Origin %r)", ws.headers.get("origin", "")[:100])
        await ws.close(code=1008)  # before accept: the handshake is answered with 403
        return
    await ws.accept()
    link = Link(ws)
    if not slots.take():
        await _end(ws, Ended("busy", "too many activations at once: try again in a minute",
                             1013, "softcard-busy"))
        return
    try:
        outcome = await _activation(service, link)
        result: dict[str, Any] = {"state": outcome.state, "detail": outcome.detail}
        if outcome.serial_number:
            result["serial_number"] = outcome.serial_number
        if link.broken is not None and outcome.state != "active":
            await _end(ws, link.broken)
        else:
            await _end(ws, None, result=result, code=1000 if outcome.state == "active" else 1011)
    except Ended as e:
        await _end(ws, e)
    finally:
        link.transport.close()
        slots.give()


async def _activation(service: Service, link: Link) -> Outcome:
    hello = await link.receive(HELLO_SECONDS)
    try:
        body = json.loads(hello) if isinstance(hello, str) else None
    except (ValueError, RecursionError):  # not JSON, or nested too deep for the parser
        body = None
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, str) or not softcard.check_code(code):
        raise Ended("refused", "this is not an activation code", 1008, "activation-refused")
    try:  # where every command finds it: $DSC_ADMIN_MASTER_KEY_FILE, else beside the
        # registry master key (`dsc registry init` made both)
        master = admin_keys.read_master_key(
            None, beside=(service.settings.key_file or default_key_file()).parent)
    except admin_keys.MasterKeyFileMissing:
        raise Ended("unavailable", "the service has no master admin key: it cannot provision "
                    "soft cards", 1013, "softcard-unavailable") from None
    try:
        user, activation_id = await service.run("softcard",
                                                lambda reg: softcard.take(reg, code))
    except softcard.ActivationRefused as e:
        raise Ended("refused", str(e), 1008, "activation-refused") from None
    await link.ws.send_json({"state": "claimed", "user": user})
    outcome = Outcome()
    async with anyio.create_task_group() as tg:
        tg.start_soon(link.pump_in)
        tg.start_soon(link.watchdog)
        writer = anyio.Event()

        async def out() -> None:
            try:
                await link.pump_out(outcome)
            finally:
                writer.set()
        tg.start_soon(out)
        await anyio.to_thread.run_sync(_provision, service, link.transport, user, master,
                                       activation_id, outcome)
        await writer.wait()
        tg.cancel_scope.cancel()
    return outcome


async def _end(ws: WebSocket, e: Ended | None, detail: str | None = None, *,
               result: dict[str, Any] | None = None, code: int = 1000) -> None:
    """The last message (what happened), then the close; quietly when the page is gone."""
    if e is not None:
        result = {"state": e.state, "detail": detail or e.detail,
                  **({"reason": e.reason} if e.reason else {})}
        code = e.code
    try:
        if ws.application_state == WebSocketState.CONNECTED and \
                ws.client_state == WebSocketState.CONNECTED:
            await ws.send_json(result)
            await ws.close(code=code)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass


def _provision(service: Service, transport: QueueTransport, user: str, master: bytes,
               activation_id: int, outcome: Outcome) -> None:
    client = CardClient(transport, timeout=5.0)
    try:
        with service.pool.registry("softcard") as reg:
            outcome.serial_number = softcard.activate(reg, client, user, master,
                                                      admin_keys.derive_admin_key,
                                                      activation_id=activation_id)
        outcome.detail = "activated"
        outcome.state = "active"
    except (DscError, ProvisioningError) as e:
        outcome.detail = str(e)
        outcome.state = "failed"
        log.info("soft card activation for %s failed: %s", user, e)
    except Exception:
        outcome.detail = "unexpected error; it is logged"
        outcome.state = "failed"
        log.exception("soft card activation for %s", user)
    finally:
        transport.close()
