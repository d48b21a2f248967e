"""The card holder portal (`/portal`): the second-factor step, change PIN, reactivate a device,
and the portal-only days of a temporary passcode (only the online security code card).

The portal starts where the bank's own password check ends: `POST /portal/start` takes the
user name the bank's login established (in this reference it is typed; a bank puts its own
password step in front and posts the name from its server, see docs/service.md). Every decision
is `provisioning.policy`'s, under the API client name `portal`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from host_tools.web import webui
from host_tools.web.webui import Forbidden, Sessions, page
from provisioning import grid_render, policy, temporary
from provisioning.errors import ProvisioningError

CLIENT = "portal"
IDLE_SECONDS = 10 * 60
LIFETIME_SECONDS = 60 * 60
STEPS = ["Hold POWER until PIN> shows, type your PIN, press OK.",
         "At CHALLNG> type the challenge above, press OK.",
         "Type the 8-digit response the card shows (spaces are fine)."]


def when(t: int | None) -> str:
    if t is None or not isinstance(t, int | float | str):
        return "-"
    return dt.datetime.fromtimestamp(int(t), dt.UTC).strftime("%d %B %Y, %H:%M UTC")


def in_words(ans: policy.Answer) -> str:
    """What happened, as the holder reads it."""
    reason = ans.reason or ""
    if reason == "wrong-response":
        left = ans.attempts_remaining
        if left == 0 or ans.locked_until:
            return (f"That response was wrong. After 10 wrong responses in 24 hours your access "
                    f"is locked until {when(ans.locked_until)}. Please call us.")
        return (f"That response was wrong. {left} more attempts before your access is locked "
                f"for 24 hours." if left is not None else "That response was wrong.")
    if reason == "locked":
        return (f"Your access is locked until {when(ans.locked_until)} after 10 wrong "
                f"responses in 24 hours. Please call us.")
    if reason == "expired":
        return "The challenge expired before you answered: start again."
    if reason == "already-used":
        return "That challenge was answered already: start again."
    if reason == "no-active-device":
        return "You have no active security device. Please call us."
    return "Your response was not accepted. Please call us if this goes on."


class Portal:
    def __init__(self, service: Any) -> None:
        self.service = service
        self.sessions = Sessions(service, "portal", "dsc_portal", "/portal", IDLE_SECONDS,
                                 LIFETIME_SECONDS)

    def ctx(self, s: webui.Session | None, title: str, **kw: Any) -> dict[str, Any]:
        user = s.data.get("user") if s else None
        nav = []
        if s is not None and s.data.get("access") == "full":
            nav = [("/portal/home", "Overview"), ("/portal/pin", "Change PIN"),
                   ("/portal/reactivate", "Reactivate security device"),
                   ("/portal/softcard", "Add a soft card")]
        return {"title": title, "area": "portal", "csrf": s.csrf if s else "", "nav": nav,
                "logout": "/portal/logout" if user else None,
                "who": user if s is not None and "access" in s.data else None, "when": when,
                "links": [], **kw}

    async def run(self, fn: Any) -> Any:
        return await self.service.run(CLIENT, fn)

    async def _form(self, request: Request) -> tuple[webui.Session, dict[str, str]]:
        s = await self.sessions.get(request)
        data = await webui.form(request, s)
        assert s is not None
        return s, data

    def _refused(self, e: Exception) -> Response:
        status = 403 if isinstance(e, Forbidden) else 409
        return page("message.html", status, **self.ctx(None, "Refused", error=str(e),
                                                        links=[("/portal", "Start again")]))

    # --- the second factor -------------------------------------------------------------------
    async def start_page(self, request: Request) -> Response:
        old = await self.sessions.get(request)
        if old is not None:  # a fresh start: the old session (and its id) ends here
            await self.sessions.drop(old)
        s = await self.sessions.new(request)
        resp = page("form.html", **self.ctx(
            s, "Log in: security device", action="/portal/start", hidden=[], submit="Continue",
            intro="Your bank has checked your password. Now confirm it is you with your "
                  "security device.",
            fields=[{"name": "user", "label": "User name", "autocomplete": "username"}]))
        self.sessions.set_cookie(resp, s)
        return resp

    async def start(self, request: Request) -> Response:
        try:
            s, data = await self._form(request)
            user = data.get("user", "").strip()[:200]
            devices = await self.run(lambda reg: policy.list_devices(reg, user))
        except (Forbidden, ProvisioningError):
            return page("message.html", 404, **self.ctx(None, "Log in", links=[
                ("/portal", "Start again")], error="We could not find a security device for "
                "that user name. Please call us."))
        s.data.clear()
        s.data["user"] = user
        usable = [d for d in devices if d["usable"]]
        if not usable:
            return page("message.html", 409, **self.ctx(s, "Log in", error="You have no "
                                                        "active security device. Please call us."))
        options = [(d["device"], _device_label(d)) for d in usable]
        return page("form.html", **self.ctx(
            s, "Log in: choose your device", action="/portal/challenge", hidden=[],
            submit="Get a challenge",
            fields=[{"name": "device", "label": "Security device", "options": options}]))

    async def challenge(self, request: Request) -> Response:
        try:
            s, data = await self._form(request)
            user = s.data["user"]
            device = data.get("device", "")[:64]
            issued = await self.run(lambda reg: policy.issue(
                reg, user, device=device or None, access="portal", client=CLIENT))
        except (Forbidden, KeyError, ProvisioningError) as e:
            return self._refused(e if not isinstance(e, KeyError) else Forbidden("start again"))
        s.data["challenge"] = issued.challenge.id
        temp = device in (policy.PASSCODE, policy.SECURITY_CODE_CARD)
        cells = issued.challenge.cells
        intro = ("Type your temporary passcode." if device == policy.PASSCODE else
                 f"Type the codes of the cells {cells} of your online security code card."
                 if device == policy.SECURITY_CODE_CARD else None)
        return page("form.html", **self.ctx(
            s, "Log in: your response", action="/portal/respond", hidden=[], submit="Log in",
            challenge=None if temp else issued.challenge.challenge,
            steps=None if temp else STEPS, intro=intro,
            fields=[{"name": "response", "label": "Passcode" if temp else "Response",
                     "autocomplete": "one-time-code",
                     "inputmode": None if temp else "numeric"}]))

    async def respond(self, request: Request) -> Response:
        try:
            s, data = await self._form(request)
            cid = s.data.pop("challenge")
            ans = await self.run(lambda reg: policy.respond(
                reg, cid, data.get("response", "").strip(), client=CLIENT))
        except (Forbidden, KeyError, ProvisioningError) as e:
            return self._refused(e if not isinstance(e, KeyError) else Forbidden("start again"))
        if ans.status == "rejected":
            return page("message.html", 401, **self.ctx(s, "Log in", error=in_words(ans),
                                                         links=[("/portal", "Try again")]))
        user = s.data["user"]
        await self.sessions.drop(s)
        s2 = await self.sessions.new(request)
        s2.data.update(user=user, access="full" if ans.status == "accepted" else "portal",
                       method=ans.method)
        resp = RedirectResponse("/portal/home", status_code=303)
        self.sessions.set_cookie(resp, s2)
        return resp

    async def _signed_in(self, request: Request) -> webui.Session | None:
        s = await self.sessions.get(request)
        return s if s is not None and "access" in s.data else None

    async def home(self, request: Request) -> Response:
        s = await self._signed_in(request)
        if s is None:
            return RedirectResponse("/portal", status_code=303)
        if s.data["access"] == "portal":
            return page("message.html", **self.ctx(
                s, "Portal only", message="Your temporary passcode now gives access to this "
                "portal only. The one thing you can do here is print or save your online "
                "security code card; use it to log in until your security device is back.",
                download="/portal/security-card",
                download_label="Print or save your online security code card (PDF)"))
        return page("message.html", **self.ctx(
            s, f"Welcome, {s.data['user']}", message="You are logged in.",
            links=[("/portal/pin", "Change your PIN"),
                   ("/portal/reactivate", "Reactivate your security device"),
                   ("/portal/softcard", "Add a soft card on your phone")]))

    async def security_card(self, request: Request) -> Response:
        s = await self._signed_in(request)
        try:
            await webui.form(request, s)
        except Forbidden as e:
            return self._refused(e)
        assert s is not None
        user = s.data["user"]
        try:
            grid, ends = await self.run(lambda reg: temporary.issue_security_card(reg, user))
        except ProvisioningError as e:
            return self._refused(e)
        pdf = grid_render.render_bytes(grid, user, ends, "PDF")
        return webui.secure(Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": 'attachment; filename="online-security-code-card.pdf"'}))

    # --- change PIN and reactivation ---------------------------------------------------------
    async def _special_page(self, request: Request, purpose: str) -> Response:
        s = await self._signed_in(request)
        # Reactivation needs the returned card's own response: a portal-only session (a
        # temporary passcode past its full days) may use it; a PIN change needs full access.
        if s is None or (s.data["access"] != "full" and purpose != "reactivation"):
            return RedirectResponse("/portal", status_code=303)
        user = s.data["user"]
        try:
            issued = await self.run(lambda reg: policy.issue(reg, user, purpose=purpose,
                                                             client=CLIENT))
        except ProvisioningError as e:
            return page("message.html", 409, **self.ctx(s, "Not possible now", error=str(e)))
        s.data[purpose] = issued.challenge.id
        if purpose == "pin-change":
            return page("form.html", **self.ctx(
                s, "Change your PIN", action="/portal/pin", hidden=[], submit="Change PIN",
                challenge=issued.challenge.challenge,
                steps=["Hold POWER until PIN> shows, type your NEW PIN, press OK.",
                       "At CHALLNG> type the challenge above, press OK.",
                       "Type the new PIN and the response the card shows below."],
                fields=[{"name": "pin", "label": "New PIN (as typed at PIN>)",
                         "type": "password", "inputmode": "numeric"},
                        {"name": "response", "label": "Response", "inputmode": "numeric"}]))
        return page("form.html", **self.ctx(
            s, "Reactivate your security device", action="/portal/reactivate", hidden=[],
            submit="Reactivate", challenge=issued.challenge.challenge, steps=STEPS,
            intro="This ends your temporary passcode and your online security code card.",
            fields=[{"name": "response", "label": "Response", "inputmode": "numeric"}]))

    async def pin_page(self, request: Request) -> Response:
        return await self._special_page(request, "pin-change")

    async def reactivate_page(self, request: Request) -> Response:
        return await self._special_page(request, "reactivation")

    async def _special(self, request: Request, purpose: str) -> Response:
        try:
            s, data = await self._form(request)
            cid = s.data.pop(purpose)
            if purpose == "pin-change":
                ans = await self.run(lambda reg: policy.change_pin(
                    reg, cid, data.get("response", ""), data.get("pin", ""), client=CLIENT))
            else:
                ans = await self.run(lambda reg: policy.reactivate(
                    reg, cid, data.get("response", ""), client=CLIENT))
        except (Forbidden, KeyError, ProvisioningError) as e:
            return self._refused(e if not isinstance(e, KeyError) else Forbidden("start again"))
        if ans.status == "rejected":
            return page("message.html", 401, **self.ctx(s, "Not changed", error=in_words(ans)))
        done = ("Your new PIN is stored: use it from now on." if purpose == "pin-change" else
                "Your security device is active again. Your temporary passcode and online "
                "security code card no longer work.")
        return page("message.html", **self.ctx(s, "Done", message=done))

    async def pin(self, request: Request) -> Response:
        return await self._special(request, "pin-change")

    async def reactivate(self, request: Request) -> Response:
        return await self._special(request, "reactivation")

    async def logout(self, request: Request) -> Response:
        s = await self.sessions.get(request)
        try:
            await webui.form(request, s)
        except Forbidden as e:
            return self._refused(e)
        if s is not None:
            await self.sessions.drop(s)
        resp = RedirectResponse("/portal", status_code=303)
        self.sessions.clear_cookie(resp)
        return resp

    def routes(self) -> list[Route]:
        w = self.sessions.wrap
        return [Route("/portal", w(self.start_page), methods=["GET"]),
                Route("/portal/start", w(self.start), methods=["POST"]),
                Route("/portal/challenge", w(self.challenge), methods=["POST"]),
                Route("/portal/respond", w(self.respond), methods=["POST"]),
                Route("/portal/home", w(self.home)),
                Route("/portal/security-card", w(self.security_card), methods=["POST"]),
                Route("/portal/pin", w(self.pin_page), methods=["GET"]),
                Route("/portal/pin", w(self.pin), methods=["POST"]),
                Route("/portal/reactivate", w(self.reactivate_page), methods=["GET"]),
                Route("/portal/reactivate", w(self.reactivate), methods=["POST"]),
                Route("/portal/logout", w(self.logout), methods=["POST"])]


def _device_label(d: dict[str, Any]) -> str:
    kind = {"dsc-card": "OpenDSC card", "softcard": "soft card",
            "temporary-passcode": "temporary passcode",
            "security-code-card": "online security code card"}.get(d["device_type"],
                                                                     d["device_type"])
    return f"{kind} {d['device']}" if d["device"] != d["device_type"] else kind
