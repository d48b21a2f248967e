"""Soft card creation pages: in the support console (a holder's page: Create soft card) and in
the card holder portal (a holder with full access adds one for themselves).

Both confirm first (a POST with the session's CSRF token), then make a one-time activation code
with `provisioning.softcard.create` (audited `softcard-code` / `issued` under the operator
`console:<name>` or `portal`) and show it once: the code, its expiry, and the QR code (SVG,
rendered here by `segno`) of the activation URL `<service>/softcard#code=...`. Like every
console and portal page, these are sent with `Cache-Control: no-store`. A portal-only session
(the days of a temporary passcode after the first two) may not add a soft card.

`routes(console, portal)` gives both sets of routes (app.py registers them beside the console's
and the portal's own); they use the sessions of those two as they are (read in one call,
`_session`, and each route under the sessions' `wrap` where they have one).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from host_tools.qr import qr_svg
from host_tools.web import webui
from host_tools.web.webui import Forbidden, page
from provisioning import operators, softcard
from provisioning.errors import ProvisioningError

if TYPE_CHECKING:
    from host_tools.web.console import Console
    from host_tools.web.portal import Portal

WHAT = ("The code works once, for {minutes} minutes. It is shown on this page only: the "
        "registry keeps its hash.")


# What segno's inline SVG is made of: an <svg>, a <g>, <path>s; attributes of names, numbers,
# colours and path data. Anything else (text, a script, an event handler) is not put in a page.
_SVG = re.compile(r'<svg [\w\s="#.-]*>(<g [\w\s="()#.-]*>)?(<path [\w\s="#.-]*/>)+(</g>)?</svg>')


def qr_markup(url: str) -> Markup:
    """The QR code of `url` as SVG markup for a page, checked to be only segno's shapes."""
    svg = qr_svg(url).strip()
    names = re.findall(r"\s(\w+)=", svg)
    if not _SVG.fullmatch(svg) or any(n.lower().startswith("on") for n in names):
        raise ValueError("the QR code's SVG is not the plain shapes expected")
    return Markup(svg)  # noqa: S704  (checked above: shapes only, nothing from the request)


def activation_view(request: Request, act: softcard.Activation) -> dict[str, Any]:
    """What the page shows of a new activation code: the code, the page where it is typed,
    and the QR code of the URL that carries it (in the fragment, which no server log sees)."""
    base = str(request.base_url).rstrip("/")
    url = f"{base}/softcard#code={act.code}"
    return {"code": act.code, "expires_at": act.expires_at, "page_url": f"{base}/softcard",
            "qr": qr_markup(url),
            "what": WHAT.format(minutes=softcard.ACTIVATION_SECONDS // 60)}


async def _session(sessions: Any, request: Request) -> webui.Session | None:
    """The request's session of `sessions` (whether their `get` is a call or a coroutine)."""
    got = sessions.get(request)
    if inspect.isawaitable(got):
        got = await got
    return cast("webui.Session | None", got)


def _route(sessions: Any, path: str, fn: Callable[[Request], Awaitable[Response]],
           method: str) -> Route:
    wrap = getattr(sessions, "wrap", None)  # sessions that write their changes back after
    return Route(path, wrap(fn) if wrap is not None else fn, methods=[method])


def routes(console: Console, portal: Portal) -> list[Route]:
    return [*console_routes(console), *portal_routes(portal)]


def console_routes(console: Console) -> list[Route]:
    async def create(request: Request, s: webui.Session, op: operators.Operator) -> Response:
        name = request.path_params["name"]
        data = await webui.form(request, s)
        await console.run(op, lambda reg: operators.require(reg, op, "softcard"))
        back = f"/console/user/{quote(name, safe='')}"
        action = f"/console/softcard/{quote(name, safe='')}"
        if data.get("confirmed") != "yes":
            return page("confirm.html", **console.ctx(
                s, "Please confirm", question=f"Create a soft card for {name}? The next page "
                "shows its one-time activation code and QR code, once.", action=action,
                hidden=[], fields=[], verb="create it", back=back))
        act = await console.run(op, lambda reg: softcard.create(reg, name))
        return page("softcard_code.html", **console.ctx(
            s, f"Soft card for {name}", **activation_view(request, act),
            intro=f"Give {name} the code (or let them scan the QR code) to open on the phone "
                  "that will hold the soft card. Their PIN is the one of their card.",
            links=[(back, f"Back to {name}")]))

    return [_route(console.sessions, "/console/softcard/{name}", console.handler(create),
                   "POST")]


def portal_routes(portal: Portal) -> list[Route]:
    async def full(request: Request) -> webui.Session | None:
        s = await _session(portal.sessions, request)
        return s if s is not None and s.data.get("access") == "full" else None

    async def not_now(request: Request) -> Response:
        s = await _session(portal.sessions, request)
        if s is None or "access" not in s.data:
            return RedirectResponse("/portal", status_code=303)
        return page("message.html", 403, **portal.ctx(
            s, "Not possible now", error="Adding a soft card needs a full login with your "
            "security device; a temporary passcode in its portal-only days does not allow it."))

    async def ask(request: Request) -> Response:
        s = await full(request)
        if s is None:
            return await not_now(request)
        return page("confirm.html", **portal.ctx(
            s, "Add a soft card", question="Add a soft card on your phone? It works like "
            "your security card, with your PIN, and is allowed smaller withdrawals. The next "
            "page shows a one-time activation code and its QR code.", action="/portal/softcard",
            hidden=[], fields=[], verb="add one", back="/portal/home"))

    async def create(request: Request) -> Response:
        s = await full(request)
        try:
            data = await webui.form(request, s)
        except Forbidden as e:
            return await not_now(request) if s is None else portal._refused(e)
        assert s is not None
        if data.get("confirmed") != "yes":
            return RedirectResponse("/portal/softcard", status_code=303)
        user = s.data["user"]
        try:
            act = await portal.run(lambda reg: softcard.create(reg, user))
        except ProvisioningError as e:
            return page("message.html", 409, **portal.ctx(s, "Not possible now", error=str(e)))
        return page("softcard_code.html", **portal.ctx(
            s, "Your soft card", **activation_view(request, act),
            intro="On the phone that will hold it, scan the QR code, or open the page below "
                  "and type the code.",
            links=[("/portal/home", "Back")]))

    return [_route(portal.sessions, "/portal/softcard", ask, "GET"),
            _route(portal.sessions, "/portal/softcard", create, "POST")]
