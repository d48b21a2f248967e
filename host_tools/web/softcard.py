"""The soft card's pages and its activation, on `dsc serve` (see docs/softcard.md).

- `GET /softcard` (and `/emulator`, the same page with a fake seed and no server state): the
  page, its static JS/CSS, the MicroPython WebAssembly VM from the project's own npm install
  (`DSC_SOFTCARD_VM_DIR`, default <project>/node_modules/@micropython/micropython-webassembly-
  pyscript), and the firmware files (`/softcard/firmware.json` lists them with their SHA-256:
  firmware/dsc as the boards run it, and firmware/softcard's browser HAL).
- `POST /v1/support/softcards` (support token): a one-time activation code for a user, the URL
  that carries it (in the fragment, which no server log sees) and its QR code as SVG.
- `POST /softcard/v1/activate` {code}: uses the code up and starts provisioning the page's card
  with `provisioning.softcard.activate` (PROVISION, AUTH, TEST by host_tools.client.CardClient)
  over a `QueueTransport`; `POST /softcard/v1/sessions/{id}/io` {data: hex} carries the card's
  bytes in and the client's bytes out (a short long-poll), and reports the state.

Activation sessions live in this process: run one worker (`dsc serve`'s default) or route a
page's requests to one worker.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from host_tools import admin_keys
from host_tools.bridge import QueueTransport
from host_tools.client import CardClient
from host_tools.errors import DscError
from host_tools.qr import qr_svg
from host_tools.web.problems import Problem
from provisioning import softcard
from provisioning.keys import default_key_file

if TYPE_CHECKING:
    from host_tools.web.app import Service

log = logging.getLogger("dsc.serve.softcard")

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC = Path(__file__).resolve().parent / "static" / "softcard"
VM_PACKAGE = "@micropython/micropython-webassembly-pyscript"
VM_FILES = ("micropython.mjs", "micropython.wasm")
SESSION_SECONDS = 120
POLL_SECONDS = 0.25
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


@dataclass
class Session:
    user: str
    transport: QueueTransport = field(default_factory=QueueTransport)
    state: str = "running"              # running, active, failed
    serial_number: str | None = None
    detail: str = ""
    started: float = field(default_factory=time.monotonic)


class Activations:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def add(self, s: Session) -> str:
        sid = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            for k in [k for k, v in self._sessions.items() if now - v.started > SESSION_SECONDS]:
                self._sessions.pop(k).transport.close()
            self._sessions[sid] = s
        return sid

    def get(self, sid: str) -> Session:
        with self._lock:
            s = self._sessions.get(sid)
        if s is None or time.monotonic() - s.started > SESSION_SECONDS:
            raise Problem("unknown-session", "no such soft card activation (or it timed out)")
        return s


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


def routes(service: Service) -> list[Route]:
    acts = Activations()

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

    async def activate(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            code = body.get("code") if isinstance(body, dict) else None
            if not isinstance(code, str) or not softcard.check_code(code):
                raise Problem("activation-refused", "this is not an activation code")
            try:  # where every command finds it: $DSC_ADMIN_MASTER_KEY_FILE, else beside
                # the registry master key (`dsc registry init` made both)
                master = admin_keys.read_master_key(
                    None, beside=(service.settings.key_file or default_key_file()).parent)
            except admin_keys.MasterKeyFileMissing:
                raise Problem("softcard-unavailable", "the service has no master admin key: "
                              "it cannot provision soft cards") from None
            user = await service.run("softcard", lambda reg: softcard.claim(reg, code))
        except json.JSONDecodeError:
            return Problem("malformed-json", "the body is not JSON").response()
        except softcard.ActivationRefused as e:
            return Problem("activation-refused", str(e)).response()
        except Exception as e:
            from host_tools.web.app import problem_for
            return problem_for(e).response()
        s = Session(user)
        sid = acts.add(s)
        threading.Thread(target=_provision, args=(service, s, master), daemon=True,
                         name="softcard-activation").start()
        return JSONResponse({"session": sid, "user": user}, status_code=201,
                            headers={"Cache-Control": "no-store"})

    async def io(request: Request) -> Response:
        try:
            s = acts.get(request.path_params["sid"])
            body = json.loads(await request.body() or b"{}")
            data = body.get("data", "") if isinstance(body, dict) else None
            if not isinstance(data, str) or len(data) > 16384:
                raise Problem("invalid-field", "`data` is the card's bytes as hex")
            s.transport.from_card(binascii.unhexlify(data))
        except (binascii.Error, ValueError):
            return Problem("invalid-field", "`data` is the card's bytes as hex").response()
        except Problem as p:
            return p.response()
        out = await anyio.to_thread.run_sync(s.transport.to_card, POLL_SECONDS)
        return JSONResponse({"data": out.hex(), "state": s.state, "serial_number":
                             s.serial_number, "detail": s.detail},
                            headers={"Cache-Control": "no-store"})

    return [Route("/softcard", page), Route("/emulator", page),
            Route("/softcard/static/{name}", static),
            Route("/softcard/vm/{name}", vm),
            Route("/softcard/firmware.json", manifest),
            Route("/softcard/firmware/{mount}/{name}", firmware),
            Route("/v1/support/softcards", create, methods=["POST"]),
            Route("/softcard/v1/activate", activate, methods=["POST"]),
            Route("/softcard/v1/sessions/{sid}/io", io, methods=["POST"])]


def _provision(service: Service, s: Session, master: bytes) -> None:
    client = CardClient(s.transport, timeout=5.0)
    try:
        with service.pool.registry("softcard") as reg:
            s.serial_number = softcard.activate(reg, client, s.user, master,
                                                admin_keys.derive_admin_key)
        s.state = "active"
        s.detail = "activated"
    except DscError as e:
        s.state = "failed"
        s.detail = str(e)
        log.info("soft card activation for %s failed: %s", s.user, e)
    except Exception:
        s.state = "failed"
        s.detail = "unexpected error; it is logged"
        log.exception("soft card activation for %s", s.user)
    finally:
        s.transport.close()
