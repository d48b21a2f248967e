"""The console's admin pages: operators, API clients and PSKC, on the libraries the CLI uses
(`operators`, `apiclients`, `pskc_io`).

Every page and action needs an admin: a helpdesk operator gets 403 and the attempt is audited
(`operators.require`, after the form's CSRF token was checked, so a forged post cannot fill the
log). Every action is asked twice: the first post shows what will change and a confirmation
form carrying a one-time token bound to exactly that change (kept in the session); the second
post does it once, under the registry operator `console:<name>`, so the audit entry names the
operator, and says what it changed. A reloaded or replayed confirmation does nothing.

- Operators: list, add (name, role, and the registry user whose OpenDSC card the operator signs
  in with, as `dsc operator add --user`; the password typed twice on the confirmation page),
  disable (not oneself).
- API clients: list, add with a scope (the bearer token appears once, in the answer to the
  confirmation, never stored, logged or shown again), revoke.
- PSKC: export the cards in stock (or the serial numbers given) as a file encrypted with a
  password typed twice (`pskc_io.check_password`; PBKDF2 and AES-256-CBC with an HMAC, as the
  CLI), served once; import an uploaded file (at most `pskc_io.MAX_FILE_BYTES`, read by
  `pskc_io.parse` with all its hostile-file checks), shown card by card for confirmation, then
  recorded all or nothing. A bad file is refused with the library's message and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from host_tools.web import webui
from host_tools.web.webui import Forbidden, Session, page
from provisioning import apiclients, operators, pskc_io
from provisioning.errors import InvalidInputError, PskcError
from provisioning.registry import Registry

NAV = [("/console/operators", "Operators"), ("/console/api-clients", "API clients"),
       ("/console/pskc", "PSKC")]
DOWNLOAD = "download"  # the console's one-time downloads (`/console/download/{token}`)
PENDING_IMPORT = "pskc-import"
UPLOAD_LIMIT = pskc_io.MAX_FILE_BYTES + 64 * 1024  # the file and the form around it
MAX_SERIALS = 10_000
_CONFIRMS = "confirm"

Handler = Callable[[Request, Session, operators.Operator], Awaitable[Response]]


class ConsoleLike(Protocol):
    sessions: webui.Sessions

    def ctx(self, s: Session | None, title: str, **kw: Any) -> dict[str, Any]: ...

    async def run(self, op: operators.Operator | None, fn: Callable[[Registry], Any]) -> Any: ...

    def handler(self, fn: Handler) -> Callable[[Request], Awaitable[Response]]: ...


# --- confirmations -----------------------------------------------------------------------------
def ask(s: Session, what: str) -> str:
    """A one-time token for the confirmation of `what` (kept in the session, 10 at most)."""
    pending = s.data.get(_CONFIRMS)
    pending = dict(pending) if isinstance(pending, dict) else {}
    while len(pending) >= 10:
        pending.pop(next(iter(pending)))
    token = secrets.token_urlsafe(16)
    pending[token] = what
    s.data[_CONFIRMS] = pending
    return token


def confirmed(s: Session, data: dict[str, str], what: str) -> None:
    """Use up the confirmation of `what`; Forbidden when it was used, or was for another thing."""
    pending = s.data.get(_CONFIRMS)
    pending = dict(pending) if isinstance(pending, dict) else {}
    if pending.get(data.get("once", "")) != what:
        raise Forbidden("this confirmation was used already or does not match: nothing was "
                        "done; start again from the page")
    del pending[data["once"]]
    s.data[_CONFIRMS] = pending


def typed_twice(data: dict[str, str]) -> str | None:
    """The password of a confirmation that asks for one twice: None until it is confirmed
    with both the same."""
    password = data.get("password", "")
    if data.get("confirmed") == "yes" and password == data.get("password2", ""):
        return password
    return None


def twice_fields(label: str, data: dict[str, str]) -> dict[str, Any]:
    """The confirmation page's two password fields, and its error when they differed."""
    fields = [{"name": name, "label": text, "type": "password", "autocomplete": "new-password"}
              for name, text in (("password", label), ("password2", f"{label} again"))]
    error = ("The two passwords differ: type them again." if data.get("confirmed") == "yes"
             else None)
    return {"fields": fields, "error": error}


def _serials(text: str) -> list[str]:
    found = [t for t in re.split(r"[\s,]+", text.strip()) if t]
    if len(found) > MAX_SERIALS:
        raise InvalidInputError(f"at most {MAX_SERIALS} serial numbers at once")
    for t in found:
        if len(t) > 64 or not t.isascii() or not t.isprintable():
            raise InvalidInputError("a serial number is at most 64 printable characters")
    return list(dict.fromkeys(found))


class Admin:
    def __init__(self, console: ConsoleLike) -> None:
        self.console = console
        self.sessions = console.sessions

    def ctx(self, s: Session, title: str, **kw: Any) -> dict[str, Any]:
        return self.console.ctx(s, title, **kw)

    async def run(self, op: operators.Operator, fn: Callable[[Registry], Any]) -> Any:
        return await self.console.run(op, fn)

    async def admin_form(self, request: Request, s: Session, op: operators.Operator,
                         what: str) -> dict[str, str]:
        """The posted form (CSRF checked first), then the admin check (refusals audited)."""
        data = await webui.form(request, s)
        await self.require(op, what)
        return data

    async def require(self, op: operators.Operator, what: str) -> None:
        await self.run(op, lambda reg: operators.require(reg, op, what))

    def confirm(self, s: Session, what: str, question: str, action: str, verb: str, back: str,
                hidden: list[tuple[str, str]] | None = None,
                fields: list[dict[str, Any]] | None = None, **kw: Any) -> Response:
        once = ask(s, what)
        return page("confirm.html", **self.ctx(
            s, "Please confirm", question=question, action=action,
            hidden=[*(hidden or []), ("once", once)], fields=fields or [], verb=verb,
            back=back, **kw))

    def done(self, s: Session, message: str, back: str) -> Response:
        s.data["message"] = message
        return RedirectResponse(back, status_code=303)

    # --- operators -------------------------------------------------------------------------
    async def operators_page(self, request: Request, s: Session,
                             op: operators.Operator) -> Response:
        def get(reg: Registry) -> list[operators.Operator]:
            operators.require(reg, op, "operators")
            return operators.list_operators(reg)
        return page("operators.html", **self.ctx(
            s, "Operators", ops=await self.run(op, get), roles=operators.ROLES,
            message=s.data.pop("message", None)))

    async def operator_add(self, request: Request, s: Session,
                           op: operators.Operator) -> Response:
        data = await self.admin_form(request, s, op, "operators")
        name, role = data.get("name", "").strip()[:64], data.get("role", "")[:16]
        user = data.get("user", "").strip()[:200]
        what = f"operator-add\n{name}\n{role}\n{user}"
        back = "/console/operators"
        password = typed_twice(data)
        if password is not None:
            operators.check_password(password)  # before the confirmation is used up
            confirmed(s, data, what)
            found = await self.run(op, lambda reg: operators.add(reg, name, role, password,
                                                                 user))
            return self.done(s, f"Operator {found.name} ({found.role}) added: signs in with "
                                f"the password and a response from the card of {found.user}.",
                             back)

        def check(reg: Registry) -> None:
            operators.check_new(reg, name, role, user)
        await self.run(op, check)
        return self.confirm(
            s, what, f"Add the operator {name} ({role}), who signs in with a password and a "
            f"response from the OpenDSC card of the registry user {user}? Type the new "
            f"operator's password twice (at least {operators.MIN_PASSWORD} characters).",
            back, "add the operator", back,
            hidden=[("name", name), ("role", role), ("user", user)],
            **twice_fields("Password", data))

    async def operator_disable(self, request: Request, s: Session,
                               op: operators.Operator) -> Response:
        name = request.path_params["name"][:64]
        data = await self.admin_form(request, s, op, "operators")
        if name == op.name:
            raise Forbidden("you cannot disable yourself: ask another admin")
        what = f"operator-disable\n{name}"
        if data.get("confirmed") != "yes":
            return self.confirm(
                s, what, f"Disable the operator {name}? They can no longer sign in, and a "
                "session they have open ends with their next request.",
                f"/console/operators/{quote(name, safe='')}/disable", "disable",
                "/console/operators")
        confirmed(s, data, what)
        await self.run(op, lambda reg: operators.disable(reg, name))
        return self.done(s, f"Operator {name} is disabled.", "/console/operators")

    # --- API clients -----------------------------------------------------------------------
    async def clients_page(self, request: Request, s: Session,
                           op: operators.Operator) -> Response:
        def get(reg: Registry) -> list[apiclients.ApiClient]:
            operators.require(reg, op, "api-clients")
            return apiclients.clients(reg, include_revoked=True)
        return page("apiclients.html", **self.ctx(
            s, "API clients", clients=await self.run(op, get), scopes=apiclients.SCOPES,
            message=s.data.pop("message", None)))

    async def client_add(self, request: Request, s: Session,
                         op: operators.Operator) -> Response:
        data = await self.admin_form(request, s, op, "api-clients")
        name, scope = data.get("name", "").strip()[:64], data.get("scope", "")[:16]
        what = f"api-client-add\n{name}\n{scope}"
        back = "/console/api-clients"
        if data.get("confirmed") != "yes":
            await self.run(op, lambda reg: apiclients.check_new(reg, name, scope))
            return self.confirm(
                s, what, f"Add the API client {name} with scope {scope}? Its bearer token is "
                "shown once, on the next page: have the login server's configuration open.",
                back, "add the API client", back, hidden=[("name", name), ("scope", scope)])
        confirmed(s, data, what)
        token = await self.run(op, lambda reg: apiclients.add(reg, name, scope))
        # The answer to this POST is the only place the token ever appears: not stored (the
        # registry keeps its SHA-256), not logged, not in the session; `no-store` like every
        # page, and a reload re-posts a used confirmation, which shows nothing.
        return page("message.html", **self.ctx(
            s, f"API client {name} added", secret=token,
            secret_label=f"The bearer token of {name} (scope {scope}): give it as "
                         "the header Authorization: Bearer followed by the token.",
            shown_once_note="It is shown this once: copy it now. The registry keeps only its hash; "
                        "if it is lost, revoke the client and add it again.",
            links=[(back, "Back to the API clients")]))

    async def client_revoke(self, request: Request, s: Session,
                            op: operators.Operator) -> Response:
        name = request.path_params["name"][:64]
        data = await self.admin_form(request, s, op, "api-clients")
        what = f"api-client-revoke\n{name}"
        back = "/console/api-clients"
        if data.get("confirmed") != "yes":
            return self.confirm(
                s, what, f"Revoke the API client {name}? Its token stops working (within a few "
                "seconds on every worker, the token cache).",
                f"/console/api-clients/{quote(name, safe='')}/revoke", "revoke", back)
        confirmed(s, data, what)
        await self.run(op, lambda reg: apiclients.revoke(reg, name))
        return self.done(s, f"API client {name} is revoked: its token no longer works.", back)

    # --- PSKC ------------------------------------------------------------------------------
    async def pskc_page(self, request: Request, s: Session, op: operators.Operator) -> Response:
        def get(reg: Registry) -> list[str]:
            operators.require(reg, op, "pskc")
            return operators.stock(reg)
        return page("pskc.html", **self.ctx(
            s, "PSKC", stock=await self.run(op, get), limit=pskc_io.MAX_FILE_BYTES >> 20,
            message=s.data.pop("message", None)))

    async def pskc_export(self, request: Request, s: Session,
                          op: operators.Operator) -> Response:
        data = await self.admin_form(request, s, op, "pskc")
        text = data.get("serials", "")
        given = _serials(text)
        serials = given or await self.run(op, operators.stock)
        if not serials:
            raise InvalidInputError("there is no card in stock to export")
        # The confirmation carries what was typed (blank: the stock, looked up again) and is
        # bound to the list it showed: a stock that changed in between does not match.
        what = "pskc-export\n" + hashlib.sha256(" ".join(serials).encode()).hexdigest()
        back = "/console/pskc"
        password = typed_twice(data)
        if password is not None:
            pskc_io.check_password(password)  # before the confirmation is used up
            confirmed(s, data, what)
            body, done = await self.run(op, lambda reg: pskc_io.export_bytes(
                reg, pskc_io.Protection(password=password), serials))
            token = await self.sessions.put_once(s, DOWNLOAD, f"opendsc-{len(done)}-cards.pskc",
                                                 "application/pskc+xml", body)
            return page("message.html", **self.ctx(
                s, "PSKC export ready", download=f"/console/download/{token}",
                download_label=f"Download the PSKC file ({len(done)} cards, once)",
                message=f"Exported {len(done)} cards: {', '.join(done)}. The file is encrypted "
                        f"with your password (PBKDF2, {pskc_io.PBKDF2_ITERATIONS:,} iterations; "
                        "AES-256-CBC with an HMAC). It is kept sealed in the registry for this "
                        "session until it is downloaded once (10 minutes at most), never as a "
                        "file; the export is in the audit log.",
                links=[(back, "Back to PSKC")]))
        return self.confirm(
            s, what, f"Export the seeds of {len(serials)} cards ({', '.join(serials[:20])}"
            f"{', ...' if len(serials) > 20 else ''}) to a PSKC file for another OCRA server? "
            "Type the password that will protect the file twice: at least 12 characters mixing "
            "three of lower case, upper case, digits and symbols, or 20 or more.",
            "/console/pskc/export", "export", back, hidden=[("serials", text)],
            **twice_fields("File password", data))

    async def pskc_import(self, request: Request, s: Session,
                          op: operators.Operator) -> Response:
        try:
            data, files = await webui.upload(request, s, UPLOAD_LIMIT)
        except webui.TooLarge as e:
            return page("message.html", 413, **self.ctx(
                s, "Not imported", error=f"Not imported: {e}. Nothing was changed.",
                links=[("/console/pskc", "Back to PSKC")]))
        await self.require(op, "pskc")
        file = files.get("file", b"")
        batch = data.get("batch", "").strip()[:64] or None
        try:
            protection = _protection(data.get("password", ""), data.get("psk", "").strip())

            def check(reg: Registry) -> list[pskc_io.Imported]:
                try:
                    if not file:
                        raise PskcError("no file was uploaded")
                    items = pskc_io.parse(file, "the uploaded file", protection)
                    pskc_io.not_yet_known(reg, items)
                except PskcError as e:
                    with reg.db.transaction():
                        reg.log("pskc.import", "refused", detail={"reason": str(e)[:300]})
                    raise
                return items
            items = await self.run(op, check)
        except PskcError as e:
            return page("message.html", 422, **self.ctx(
                s, "Not imported", error=f"Not imported: {e}. Nothing was changed.",
                links=[("/console/pskc", "Back to PSKC")]))
        pending = json.dumps({"batch": batch, "cards": [
            {"serial_number": i.serial_number, "suite": i.suite, "seed": i.seed.hex(),
             "pin_len": i.pin_len, "counter": i.counter} for i in items]}).encode()
        token = await self.sessions.put_once(s, PENDING_IMPORT, "pskc import",
                                             "application/json", pending)
        what = "pskc-import\n" + token
        return self.confirm(
            s, what, f"Record these {len(items)} cards as provisioned (in stock)"
            f"{f', batch {batch}' if batch else ''}?", "/console/pskc/import/confirm",
            "import them", "/console/pskc", hidden=[("token", token)],
            cards=[(i.serial_number, i.suite, i.pin_len) for i in items])

    async def pskc_import_confirm(self, request: Request, s: Session,
                                  op: operators.Operator) -> Response:
        data = await self.admin_form(request, s, op, "pskc")
        token = data.get("token", "")[:64]
        confirmed(s, data, "pskc-import\n" + token)
        found = await self.sessions.take_once(s, PENDING_IMPORT, token)
        if found is None:
            raise Forbidden("this import was confirmed already or has expired (10 minutes): "
                            "upload the file again")
        pending = json.loads(found[2])
        items = [pskc_io.Imported(c["serial_number"], c["suite"], bytes.fromhex(c["seed"]),
                                  int(c["pin_len"]), int(c["counter"])) for c in pending["cards"]]
        done = await self.run(op, lambda reg: pskc_io.record(reg, items, pending["batch"]))
        return self.done(s, f"{len(done)} cards imported as provisioned (in stock): "
                            f"{', '.join(done)}.", "/console/pskc")

    def routes(self) -> list[Route]:
        def h(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
            return self.sessions.wrap(self.console.handler(fn))
        return [Route("/console/operators", h(self.operators_page), methods=["GET"]),
                Route("/console/operators", h(self.operator_add), methods=["POST"]),
                Route("/console/operators/{name}/disable", h(self.operator_disable),
                      methods=["POST"]),
                Route("/console/api-clients", h(self.clients_page), methods=["GET"]),
                Route("/console/api-clients", h(self.client_add), methods=["POST"]),
                Route("/console/api-clients/{name}/revoke", h(self.client_revoke),
                      methods=["POST"]),
                Route("/console/pskc", h(self.pskc_page), methods=["GET"]),
                Route("/console/pskc/export", h(self.pskc_export), methods=["POST"]),
                Route("/console/pskc/import", h(self.pskc_import), methods=["POST"]),
                Route("/console/pskc/import/confirm", h(self.pskc_import_confirm),
                      methods=["POST"])]


def _protection(password: str, psk: str) -> pskc_io.Protection | None:
    """The uploaded file's protection: its password, or a pre-shared AES key in hex."""
    if password and psk:
        raise PskcError("give the file's password or its pre-shared key, not both")
    if psk:
        try:
            key = bytes.fromhex(psk)
        except ValueError:
            raise PskcError("the pre-shared key is not hex text") from None
        return pskc_io.Protection(psk=key)
    return pskc_io.Protection(password=password) if password else None

