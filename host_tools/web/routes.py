"""The API v1 endpoints: what each takes, which scope it needs, and the library call it makes.

The table `ENDPOINTS` is the single description of the API: the app routes and validates from
it, and `openapi.py` generates the OpenAPI document from it (checked into docs/openapi.json).
Handlers run in a worker thread with a registry from the pool that logs as `api:<client>`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioning import apiclients, audit, policy, softcard, support
from provisioning.registry import Registry

VERIFY, SUPPORT = apiclients.SCOPES


@dataclass(frozen=True)
class Field:
    name: str
    kind: str                 # "string", "number", "integer-or-null", "string-list"
    description: str
    required: bool = False
    max_len: int = 200
    enum: tuple[str, ...] | None = None


@dataclass
class Call:
    """One request, as a handler sees it."""

    reg: Registry
    client: str
    path: Mapping[str, str]
    body: dict[str, Any]
    query: Mapping[str, str]


Handler = Callable[[Call], tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    operation: str
    scope: str
    summary: str
    handler: Handler
    result: str                             # schema name of the success body
    status: int = 200
    body: tuple[Field, ...] | None = None
    query: tuple[Field, ...] = ()
    problems: tuple[int, ...] = field(default=(400, 401, 403, 404, 409, 413, 415, 422, 503))


# --- handlers (one library call each) -------------------------------------------------------------
def _amount(value: object) -> Any:
    return None if value is None else policy.parse_amount(value)


def create_challenge(c: Call) -> tuple[int, dict[str, Any]]:
    b = c.body
    issued = policy.issue(c.reg, b["user"], device=b.get("device"),
                          purpose=b.get("purpose", "login"), amount=_amount(b.get("amount")),
                          client_ip=b.get("client_ip"), access=b.get("access", "full"),
                          client=c.client)
    return 201, issued.as_json()


def respond(c: Call) -> tuple[int, dict[str, Any]]:
    return 200, policy.respond(c.reg, c.path["id"], c.body["response"], client=c.client).as_json()


def pin_change(c: Call) -> tuple[int, dict[str, Any]]:
    return 200, policy.change_pin(c.reg, c.path["id"], c.body["response"], c.body["new_pin"],
                                  client=c.client).as_json()


def reactivation(c: Call) -> tuple[int, dict[str, Any]]:
    return 200, policy.reactivate(c.reg, c.path["id"], c.body["response"],
                                  client=c.client).as_json()


def devices(c: Call) -> tuple[int, dict[str, Any]]:
    amount = _amount(c.query.get("amount"))
    return 200, {"user": c.path["user"],
                 "devices": policy.list_devices(c.reg, c.path["user"], amount)}


def support_user(c: Call) -> tuple[int, dict[str, Any]]:
    return 200, policy.support_view(c.reg, c.path["user"])


def support_unlock(c: Call) -> tuple[int, dict[str, Any]]:
    was = support.unlock(c.reg, c.path["user"])
    return 200, {"user": c.path["user"], "status": "ok", "was_locked": was}


def support_networks(c: Call) -> tuple[int, dict[str, Any]]:
    nets = policy.set_networks(c.reg, c.path["user"], c.body["networks"])
    return 200, {"user": c.path["user"], "networks": nets}


def support_card(c: Call) -> tuple[int, dict[str, Any]]:
    return 200, policy.card_view(c.reg, c.path["serial"])


def support_card_action(action: str) -> Handler:
    def handler(c: Call) -> tuple[int, dict[str, Any]]:
        serial = c.path["serial"]
        if action == "lost":
            support.mark_lost(c.reg, serial)
        else:
            support.activate(c.reg, serial)
        return 200, c.reg.card(serial).as_json()
    return handler


def support_softcard_action(action: str) -> Handler:
    def handler(c: Call) -> tuple[int, dict[str, Any]]:
        softcard.set_state(c.reg, c.path["serial"], action)
        return 200, c.reg.card(c.path["serial"]).as_json()
    return handler


def support_limits(c: Call) -> tuple[int, dict[str, Any]]:
    return 200, {"withdrawal_limits": policy.withdrawal_limits(c.reg)}


def support_set_limit(c: Call) -> tuple[int, dict[str, Any]]:
    policy.set_withdrawal_limit(c.reg, c.path["device_type"], c.body["limit"])
    return 200, {"withdrawal_limits": policy.withdrawal_limits(c.reg)}


def support_audit(c: Call) -> tuple[int, dict[str, Any]]:
    limit = c.query.get("limit", "50")
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        raise policy.PolicyRefusal("limit must be 1 to 1000", reason="invalid-input",
                                   status="invalid")
    items = audit.entries(c.reg.db, user=c.query.get("user"),
                          serial_number=c.query.get("serial_number"), limit=int(limit))
    return 200, {"entries": [e.as_json() for e in items]}


# --- the table ------------------------------------------------------------------------------------
_RESPONSE = Field("response", "string", "what the card displays (spaces and dashes are "
                  "ignored), a security-card answer or a temporary passcode", True, 64)
_USER = "/v1/users/{user}"
_SU = "/v1/support/users/{user}"
_SC = "/v1/support/cards/{serial}"

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("POST", "/v1/challenges", "createChallenge", VERIFY,
             "Issue a single-use challenge for a user's device, under the policy",
             create_challenge, "Challenge", 201, body=(
                 Field("user", "string", "the user's name", True),
                 Field("device", "string", "a serial number, `temporary-passcode` or "
                       "`security-code-card` (required when the user holds several devices)"),
                 Field("purpose", "string", "what the challenge is for (default login)",
                       enum=policy.PURPOSES),
                 Field("amount", "number", "withdrawal amount in USD (purpose withdrawal only)"),
                 Field("client_ip", "string", "the end user's IP address, checked against the "
                       "user's networks", max_len=64),
                 Field("access", "string", "the access the caller grants on success: `full` "
                       "(default; portal-only proofs are refused) or `portal`",
                       enum=policy.ACCESS))),
    Endpoint("POST", "/v1/challenges/{id}/response", "respond", VERIFY,
             "Check a response to a login or withdrawal challenge", respond, "Answer",
             body=(_RESPONSE,)),
    Endpoint("POST", "/v1/challenges/{id}/pin-change", "changePin", VERIFY,
             "Store a new PIN if the response, made with it on the card, matches", pin_change,
             "Answer", body=(_RESPONSE, Field("new_pin", "string", "the new PIN (digits)",
                                              True, 16))),
    Endpoint("POST", "/v1/challenges/{id}/reactivation", "reactivate", VERIFY,
             "Reactivate the user's unavailable card with a response from it (ends temporary "
             "access)", reactivation, "Answer", body=(_RESPONSE,)),
    Endpoint("GET", _USER + "/devices", "listDevices", VERIFY,
             "The devices a login screen offers the user", devices, "Devices",
             query=(Field("amount", "number", "only mark usable the devices allowed to "
                    "withdraw this amount (USD)"),)),
    Endpoint("GET", _SU, "supportUser", SUPPORT, "A user: cards, failures, lock, temporary "
             "access, networks", support_user, "SupportUser"),
    Endpoint("POST", _SU + "/unlock", "supportUnlock", SUPPORT,
             "Clear the user's failure count and lock", support_unlock, "Unlocked"),
    Endpoint("PUT", _SU + "/networks", "supportSetNetworks", SUPPORT,
             "Restrict the user's logins to networks (an empty list lifts the restriction)",
             support_networks, "Networks",
             body=(Field("networks", "string-list", "CIDR networks, e.g. 192.0.2.0/24", True),)),
    Endpoint("GET", _SC, "supportCard", SUPPORT, "A card", support_card, "Card"),
    Endpoint("POST", _SC + "/lost", "supportLost", SUPPORT, "Report a card lost (disables it)",
             support_card_action("lost"), "Card"),
    Endpoint("POST", _SC + "/activate", "supportActivate", SUPPORT, "Activate an assigned card",
             support_card_action("activate"), "Card"),
    *(Endpoint("POST", f"{_SC}/{action}", f"supportSoftcard{action.title()}", SUPPORT,
               f"{text} (a soft card only: a card's life cycle is refused with "
               f"`card-state`, a card-only action on a soft card with `softcard-action`)",
               support_softcard_action(action), "Card")
      for action, text in (("disable", "Disable a soft card (it answers no challenge)"),
                           ("enable", "Enable a disabled soft card again"),
                           ("remove", "Remove a soft card for good (a lost phone)"))),
    Endpoint("GET", "/v1/support/withdrawal-limits", "supportLimits", SUPPORT,
             "Withdrawal limits per device type (USD; null: no limit)", support_limits,
             "Limits"),
    Endpoint("PUT", "/v1/support/withdrawal-limits/{device_type}", "supportSetLimit", SUPPORT,
             "Set a device type's withdrawal limit", support_set_limit, "Limits",
             body=(Field("limit", "integer-or-null", "whole USD, or null for no limit", True),)),
    Endpoint("GET", "/v1/support/audit", "supportAudit", SUPPORT, "Audit log entries, newest "
             "last", support_audit, "AuditEntries",
             query=(Field("user", "string", "only this user's entries"),
                    Field("serial_number", "string", "only this card's entries"),
                    Field("limit", "integer-or-null", "how many of the newest (1 to 1000, "
                          "default 50)"))),
)
