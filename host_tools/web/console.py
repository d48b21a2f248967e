"""The support console (`/console`): operators sign in with a password and their own card, look
holders and cards up, and take the support actions of `provisioning` after a confirmation.

Every action is one library call under the registry operator `console:<name>`, so the audit log
names the operator. A helpdesk operator asking for an admin page or action gets 403, and the
attempt is logged (`operators.require`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from host_tools.web import admin, webui
from host_tools.web.webui import Forbidden, Session, Sessions, page
from provisioning import audit, grid_render, operators, policy, support, temporary
from provisioning.errors import AuditError, ProvisioningError
from provisioning.registry import BOUNDS, Registry

IDLE_SECONDS = 15 * 60
LIFETIME_SECONDS = 10 * 3600  # a shift: then sign in again, however busy
LABELS = {"activate": "Activate", "lost": "Report lost", "return": "Record as returned",
          "wipe": "Record as wiped", "retire": "Retire",
          "disable": "Disable soft card", "enable": "Enable soft card",
          "remove": "Remove soft card"}
USER_ACTIONS = {"unlock": "unlock this user", "reset-pin": "set a new PIN for this user",
                "passcode": "issue a temporary passcode (the card becomes unavailable)",
                "security-card": "issue an online security code card (the card becomes "
                                 "unavailable)"}


DOWNLOAD = admin.DOWNLOAD


def address_key(request: Request) -> str:
    """The client address the throttle counts: an IPv6 address by its /64 (one host's own
    prefix usually, so that it cannot take a fresh address for every guess), any other as is."""
    host = request.client.host if request.client else "?"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else str(ip)


def when(t: int | None) -> str:
    if t is None or not isinstance(t, int | float | str):
        return "-"
    return dt.datetime.fromtimestamp(int(t), dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


class Console:
    def __init__(self, service: Any) -> None:
        self.service = service
        self.sessions = Sessions(service, "console", "dsc_console", "/console", IDLE_SECONDS,
                                 LIFETIME_SECONDS)
        # counted in the registry: every worker sees every failure (operators.Throttle)
        self.by_operator = operators.Throttle(5, 900)
        self.by_address = operators.Throttle(20, 900)

    # --- plumbing --------------------------------------------------------------------------
    def ctx(self, s: Session | None, title: str, **kw: Any) -> dict[str, Any]:
        op = s.op if s else None
        nav = [("/console/search", "Search")]
        if op is not None and op.is_admin:
            nav += [("/console/stock", "Stock"), ("/console/audit", "Audit log"),
                    *admin.NAV, ("/console/settings", "Settings")]
        return {"title": title, "area": "support console", "csrf": s.csrf if s else "",
                "nav": nav if op is not None else [],
                "logout": "/console/logout" if op is not None else None,
                "who": op.name if op else None, "when": when, **kw}

    async def run(self, op: operators.Operator | None, fn: Callable[[Registry], Any]) -> Any:
        return await self.service.run(f"console:{op.name}" if op else "console", fn)

    def handler(self, fn: Callable[[Request, Session, operators.Operator], Awaitable[Response]],
                ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            s = await self.sessions.get(request)
            if s is None or not isinstance(s.data.get("operator"), str):
                return RedirectResponse("/console/login", status_code=303)
            name = s.data["operator"]
            op = await self.run(None, lambda reg: operators.active(reg, name))
            if op is None:  # disabled (or its row edited) since sign-in
                await self.sessions.drop(s)
                return RedirectResponse("/console/login", status_code=303)
            s.op = op
            try:
                return await fn(request, s, op)
            except Forbidden as e:
                return page("message.html", 403, **self.ctx(s, "Refused", error=str(e),
                                                             links=[]))
            except operators.RoleRefusal as e:
                return page("message.html", 403, **self.ctx(s, "Not allowed", error=str(e),
                                                             links=[]))
            except policy.PolicyRefusal as e:
                return page("message.html", 409, **self.ctx(s, "Refused", error=str(e),
                                                             links=[]))
            except ProvisioningError as e:
                return page("message.html", 409, **self.ctx(s, "Refused", error=str(e),
                                                             links=[]))
        return handle

    # --- signing in ------------------------------------------------------------------------
    async def login_page(self, request: Request) -> Response:
        s = await self.sessions.get(request) or await self.sessions.new(request)
        s.data.pop("operator", None)
        resp = page("form.html", **self.ctx(
            s, "Operator sign-in", action="/console/login", hidden=[], submit="Continue",
            intro="Step 1 of 2: your operator name and password. Step 2 asks for a response "
                  "from your own OpenDSC card.",
            fields=[{"name": "name", "label": "Operator name", "autocomplete": "username"},
                    {"name": "password", "label": "Password", "type": "password",
                     "autocomplete": "current-password"}]))
        self.sessions.set_cookie(resp, s)
        return resp

    async def _charge(self, request: Request, name: str) -> operators.Charge:
        """Count this attempt as a failure of the operator and of the address before it is
        made (or refuse it: `wait`); `_refund` takes it back when it succeeds."""
        checks = ((self.by_operator, "op:" + name),
                  (self.by_address, "ip:" + address_key(request)))
        done: operators.Charge = await self.run(None, lambda reg: operators.charge(reg, *checks))
        return done

    async def _refund(self, done: operators.Charge, clear: tuple[str, ...] = ()) -> None:
        await self.run(None, lambda reg: operators.refund(reg, done, clear=clear))

    async def login(self, request: Request) -> Response:
        s = await self.sessions.get(request)
        try:
            data = await webui.form(request, s)
        except Forbidden as e:
            return page("message.html", 403, **self.ctx(None, "Refused", error=str(e), links=[
                ("/console/login", "Sign in again")]))
        assert s is not None
        name = data.get("name", "")[:64]
        done = await self._charge(request, name)
        if done.wait:
            return page("message.html", 429, **self.ctx(
                s, "Too many attempts", error=f"Too many failed sign-ins: try again in "
                f"{done.wait} seconds.", links=[]))
        try:
            op, ch = await self.run(None, lambda reg: operators.begin_sign_in(
                reg, name, data.get("password", "")))
        except operators.SignInError as e:  # the attempt stays counted
            return page("message.html", 401, **self.ctx(s, "Sign-in refused", error=str(e),
                                                         links=[("/console/login", "Try again")]))
        await self._refund(done)
        s.data["pending"] = [op.name, ch.id]
        return page("form.html", **self.ctx(
            s, "Operator sign-in: your card", action="/console/login/card", hidden=[],
            submit="Sign in", challenge=ch.challenge,
            intro=f"Step 2 of 2: answer with the card of {op.user}.",
            steps=["Hold POWER until PIN> shows, type your PIN, press OK.",
                   "At CHALLNG> type the challenge above, press OK.",
                   "Type the 8-digit response the card shows (spaces are fine)."],
            fields=[{"name": "response", "label": "Response", "inputmode": "numeric",
                     "autocomplete": "one-time-code"}]))

    async def login_card(self, request: Request) -> Response:
        s = await self.sessions.get(request)
        try:
            data = await webui.form(request, s)
        except Forbidden as e:
            return page("message.html", 403, **self.ctx(None, "Refused", error=str(e), links=[]))
        assert s is not None
        pending = s.data.pop("pending", None)
        if pending is None:
            return RedirectResponse("/console/login", status_code=303)
        name, cid = pending
        done = await self._charge(request, name)
        if done.wait:
            return page("message.html", 429, **self.ctx(s, "Too many attempts", links=[],
                                                        error="Too many failed sign-ins."))
        try:
            op = await self.run(None, lambda reg: operators.finish_sign_in(
                reg, name, cid, data.get("response", "")))
        except operators.SignInError as e:  # the attempt stays counted
            return page("message.html", 401, **self.ctx(s, "Sign-in refused", error=str(e),
                                                         links=[("/console/login", "Try again")]))
        await self._refund(done, clear=("op:" + name,))
        await self.sessions.drop(s)  # a new session id once signed in
        s2 = await self.sessions.new(request)
        s2.data["operator"] = op.name
        resp = RedirectResponse("/console/search", status_code=303)
        self.sessions.set_cookie(resp, s2)
        return resp

    async def logout(self, request: Request) -> Response:
        s = await self.sessions.get(request)
        try:
            await webui.form(request, s)
        except Forbidden as e:
            return page("message.html", 403, **self.ctx(None, "Refused", error=str(e), links=[]))
        if s is not None:
            await self.sessions.drop(s)
        resp = RedirectResponse("/console/login", status_code=303)
        self.sessions.clear_cookie(resp)
        return resp

    # --- pages -----------------------------------------------------------------------------
    async def search(self, request: Request, s: Session, op: operators.Operator) -> Response:
        q = request.query_params.get("q", "")[:64]
        found = await self.run(op, lambda reg: operators.search(reg, q))
        return page("search.html", **self.ctx(s, "Search", q=q, found=found))

    async def user(self, request: Request, s: Session, op: operators.Operator) -> Response:
        name = request.path_params["name"]

        def get(reg: Registry) -> tuple[dict[str, Any], list[audit.Entry]]:
            return policy.support_view(reg, name), audit.entries(reg.db, user=name, limit=30)
        view, trail = await self.run(op, get)
        return page("user.html", **self.ctx(s, f"User {name}", view=view, trail=trail,
                                            message=s.data.pop("message", None)))

    async def card(self, request: Request, s: Session, op: operators.Operator) -> Response:
        serial = request.path_params["serial"]

        def get(reg: Registry) -> tuple[dict[str, Any], list[audit.Entry], list[str]]:
            view = policy.card_view(reg, serial)
            spare = operators.stock(reg) if view["status"] == "lost" else []
            return view, audit.entries(reg.db, serial_number=serial, limit=30), spare
        view, trail, spare = await self.run(op, get)
        return page("card.html", **self.ctx(
            s, f"Card {serial}", view=view, trail=trail, labels=LABELS,
            steps=operators.next_steps(view["status"], op, view.get("board")), spare=spare,
            locked="no: a development card, left without the production lock"
            if view.get("development") else "yes (production lock set at provisioning)",
            message=s.data.pop("message", None)))

    async def stock(self, request: Request, s: Session, op: operators.Operator) -> Response:
        def get(reg: Registry) -> list[dict[str, Any]]:
            operators.require(reg, op, "stock")
            return [c.as_json() for c in reg.cards()]
        cards = await self.run(op, get)
        counts: dict[str, int] = {}
        for c in cards:
            counts[c["status"]] = counts.get(c["status"], 0) + 1
        return page("stock.html", **self.ctx(s, "Stock", cards=cards,
                                             counts=sorted(counts.items())))

    async def audit_log(self, request: Request, s: Session, op: operators.Operator) -> Response:
        def get(reg: Registry) -> dict[str, Any]:
            operators.require(reg, op, "audit")
            out: dict[str, Any] = {"entries": audit.entries(reg.db, limit=200)}
            try:
                out["count"], out["head"] = audit.verify(reg.db, reg.sealer)
                out["chain_ok"] = True
            except AuditError as e:
                out["chain_ok"], out["problem"] = False, str(e)
                row = reg.db.one("SELECT hash FROM audit_head WHERE id = 1")
                out["head"] = row["hash"] if row else "-"
            return out
        return page("audit.html", **self.ctx(s, "Audit log", **await self.run(op, get)))

    # --- actions ---------------------------------------------------------------------------
    async def user_action(self, request: Request, s: Session,
                          op: operators.Operator) -> Response:
        name, action = request.path_params["name"], request.path_params["action"]
        if action not in USER_ACTIONS:
            raise Forbidden("unknown action")
        data = await webui.form(request, s)
        back = f"/console/user/{quote(name, safe='')}"
        if data.get("confirmed") != "yes":
            fields = [{"name": "pin", "label": "New PIN", "type": "password"}] \
                if action == "reset-pin" else []
            return page("confirm.html", **self.ctx(
                s, "Please confirm", question=f"Do you want to {USER_ACTIONS[action]}: "
                f"{name}?", action=f"/console/user/{quote(name, safe='')}/{action}", hidden=[],
                fields=fields, verb=action.replace("-", " "), back=back))
        if action == "unlock":
            was = await self.run(op, lambda reg: support.unlock(reg, name))
            s.data["message"] = f"{name} unlocked" + ("" if was else " (was not locked)") + \
                ": the failure count is 0."
            return RedirectResponse(back, status_code=303)
        if action == "reset-pin":
            pin = data.get("pin", "")
            await self.run(op, lambda reg: support.reset_pin(reg, name, pin))
            s.data["message"] = f"A new PIN is set for {name}."
            return RedirectResponse(back, status_code=303)
        if action == "passcode":
            code, full, ends = await self.run(op, lambda reg: temporary.issue_passcode(reg, name))
            return page("message.html", **self.ctx(
                s, f"Temporary passcode for {name}", secret=code,
                secret_label=f"Full access until {when(full)}, portal only until {when(ends)}.",
                links=[(back, f"Back to {name}")]))
        grid, ends = await self.run(op, lambda reg: temporary.issue_security_card(reg, name))
        pdf = grid_render.render_bytes(grid, name, ends, "PDF")
        token = await self.sessions.put_once(s, DOWNLOAD, f"security-code-card-{name}.pdf",
                                             "application/pdf", pdf)
        return page("message.html", **self.ctx(
            s, f"Online security code card for {name}", download=f"/console/download/{token}",
            download_label="Download the PDF (once)",
            message=f"Valid until {when(ends)}. The PDF is kept sealed in the registry for this "
                    "session until it is downloaded once (10 minutes at most), never as a file.",
            links=[(back, f"Back to {name}")]))

    async def download(self, request: Request, s: Session, op: operators.Operator) -> Response:
        await webui.form(request, s)
        found = await self.sessions.take_once(s, DOWNLOAD, request.path_params["token"])
        if found is None:
            raise Forbidden("this download was served already, expired, or never existed")
        return webui.attachment(*found)

    async def card_action(self, request: Request, s: Session,
                          op: operators.Operator) -> Response:
        serial, action = request.path_params["serial"], request.path_params["action"]
        if action == "replace":
            return await self.replace(request, s, op, serial)
        if action not in LABELS:
            raise Forbidden("unknown action")
        data = await webui.form(request, s)
        await self.run(op, lambda reg: operators.require(reg, op, action))
        back = f"/console/card/{quote(serial, safe='')}"
        if data.get("confirmed") != "yes":
            return page("confirm.html", **self.ctx(
                s, "Please confirm", question=f"{LABELS[action]}: card {serial}?",
                action=f"/console/card/{quote(serial, safe='')}/{action}", hidden=[], fields=[],
                verb=LABELS[action].lower(), back=back))
        state = await self.run(op, lambda reg: operators.card_action(reg, op, serial, action))
        s.data["message"] = f"Card {serial} is now {state}."
        return RedirectResponse(back, status_code=303)

    async def replace(self, request: Request, s: Session, op: operators.Operator,
                      serial: str) -> Response:
        data = await webui.form(request, s)
        new = data.get("new", "")[:32]
        back = f"/console/card/{quote(serial, safe='')}"
        if data.get("confirmed") != "yes":
            return page("confirm.html", **self.ctx(
                s, "Please confirm", question=f"Give the holders of lost card {serial} the "
                f"card {new} from stock?", action=f"/console/card/{quote(serial, safe='')}/replace",
                hidden=[("new", new)], fields=[], verb="replace", back=back))
        users = await self.run(op, lambda reg: operators.replace_card(reg, op, serial, new))
        s.data["message"] = f"Card {new} is assigned to {', '.join(users) or 'nobody'} in " \
                            f"place of {serial}."
        return RedirectResponse(f"/console/card/{quote(new, safe='')}", status_code=303)

    async def settings_page(self, request: Request, s: Session,
                            op: operators.Operator) -> Response:
        def get(reg: Registry) -> dict[str, Any]:
            operators.require(reg, op, "settings")
            rows = [(n, getattr(reg.policy, n), *BOUNDS[n]) for n in reg.policy.names()]
            return {"settings": rows}
        return page("settings.html", **self.ctx(s, "Settings", **await self.run(op, get),
                                                message=s.data.pop("message", None)))

    async def settings_change(self, request: Request, s: Session,
                              op: operators.Operator) -> Response:
        data = await webui.form(request, s)
        await self.run(op, lambda reg: operators.require(reg, op, "settings"))
        name, raw = data.get("name", "")[:40], data.get("value", "").strip()[:12]
        if not raw.isdigit():
            raise Forbidden(f"{name} takes a whole number")
        if data.get("confirmed") != "yes":
            return page("confirm.html", **self.ctx(
                s, "Please confirm", question=f"Set {name} to {raw}?",
                action="/console/settings", hidden=[("name", name), ("value", raw)],
                fields=[], verb="change it", back="/console/settings"))
        await self.run(op, lambda reg: reg.set_policy(name, int(raw)))
        s.data["message"] = f"{name} is now {raw}."
        return RedirectResponse("/console/settings", status_code=303)

    async def reactivate(self, request: Request, s: Session, op: operators.Operator) -> Response:
        """On the holder's behalf: the holder reads the response of the returned card aloud."""
        name = request.path_params["name"]
        back = f"/console/user/{quote(name, safe='')}"
        if request.method == "GET":
            issued = await self.run(op, lambda reg: policy.issue(
                reg, name, purpose="reactivation", client="console"))
            s.data["reactivation"] = (name, issued.challenge.id)
            return page("form.html", **self.ctx(
                s, f"Reactivate the card of {name}", action=f"{back}/reactivate", hidden=[],
                submit="Reactivate", challenge=issued.challenge.challenge,
                intro="Read the challenge to the holder; they type it on the returned card "
                      "after their PIN and read the response back. This ends the temporary "
                      "passcode and the online security code card.",
                fields=[{"name": "response", "label": "Response", "inputmode": "numeric"}]))
        data = await webui.form(request, s)
        pending = s.data.pop("reactivation", None)
        if pending is None or pending[0] != name:
            raise Forbidden("start the reactivation again")
        ans = await self.run(op, lambda reg: policy.reactivate(
            reg, pending[1], data.get("response", ""), client="console"))
        if ans.status == "rejected":
            s.data["message"] = f"Not reactivated: the response was {ans.reason}."
        else:
            s.data["message"] = f"Card {ans.serial_number} is active again; temporary access " \
                                "has ended."
        return RedirectResponse(back, status_code=303)

    def routes(self) -> list[Route]:
        async def root(request: Request) -> Response:
            return RedirectResponse("/console/search", status_code=303)
        def h(fn: Callable[[Request, Session, operators.Operator], Awaitable[Response]],
              ) -> Callable[[Request], Awaitable[Response]]:
            return self.sessions.wrap(self.handler(fn))
        w = self.sessions.wrap
        return [Route("/console", root), Route("/console/", root),
                Route("/console/login", w(self.login_page), methods=["GET"]),
                Route("/console/login", w(self.login), methods=["POST"]),
                Route("/console/login/card", w(self.login_card), methods=["POST"]),
                Route("/console/logout", w(self.logout), methods=["POST"]),
                Route("/console/search", h(self.search)),
                Route("/console/user/{name}", h(self.user)),
                Route("/console/user/{name}/reactivate", h(self.reactivate),
                      methods=["GET", "POST"]),
                Route("/console/user/{name}/{action}", h(self.user_action), methods=["POST"]),
                Route("/console/card/{serial}", h(self.card)),
                Route("/console/card/{serial}/{action}", h(self.card_action), methods=["POST"]),
                Route("/console/download/{token}", h(self.download), methods=["POST"]),
                Route("/console/stock", h(self.stock)),
                Route("/console/audit", h(self.audit_log)),
                Route("/console/settings", h(self.settings_page), methods=["GET"]),
                Route("/console/settings", h(self.settings_change), methods=["POST"]),
                *admin.Admin(self).routes()]
