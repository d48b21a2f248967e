"""Device policy of the verification service: device types and their withdrawal limits, per-user
IP restrictions, the purpose and access a challenge was asked for, and the answer a login
server gets.

The service (`host_tools/web`) only turns HTTP into calls of this module; every decision is
taken here, next to the registry, and each call is one transaction with its audit entry.

- Device types: `dsc-card` (the keypad card), `softcard` (the firmware in the browser, the
  documents' mobile device: a card whose board is one of `SOFT_BOARDS`), `security-code-card`
  (the online security code card) and `temporary-passcode`. Each has a withdrawal
  limit in USD, a setting (`withdrawal_limit.<type>` in `settings`): the documents' defaults are
  200,000 for the security code card, 1,000,000 for the mobile device and no limit for the
  DSC+ card; the passcode, which the documents do not rate, gets the security code card's.
- A challenge for `purpose=withdrawal` with an `amount` is issued only for a device whose limit
  covers it, and a response made with a device below the amount (a passcode answering a card's
  challenge, say) is refused as `device-limit`, even when it is right.
- IP restrictions: a list of networks per user, MACed under the master key; a challenge whose
  `client_ip` falls outside them (or that gives none) is refused before anything is issued.
- Access: a challenge asks for `full` access (the default) or `portal`. Portal-only access is
  never reported as plain success: with `portal` the status is `portal-only`; with `full` it is
  `rejected` with the reason `portal-only`.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from provisioning import audit, integrity, lifecycle, ocra_check, support, temporary, verification
from provisioning.db import Pending, Row, retrying
from provisioning.errors import (
    CardStateError,
    InvalidInputError,
    NotFoundError,
    ProvisioningError,
    UserStateError,
    VerificationRejected,
)
from provisioning.registry import Registry

log = logging.getLogger(__name__)

DSC_CARD, SOFT_CARD, SECURITY_CODE_CARD, PASSCODE = (
    "dsc-card", "softcard", "security-code-card", "temporary-passcode")
DEVICE_TYPES = (DSC_CARD, SOFT_CARD, SECURITY_CODE_CARD, PASSCODE)
SOFT_BOARDS = lifecycle.SOFT_BOARDS     # boards a soft card is provisioned as
DEFAULT_LIMITS: dict[str, int | None] = {   # USD; None: no limit
    DSC_CARD: None, SOFT_CARD: 1_000_000, SECURITY_CODE_CARD: 200_000, PASSCODE: 200_000}
_LIMIT_SETTING = "withdrawal_limit."
# A limit stored under the soft card's first name (`soft-card`, before the device type was
# named `softcard` like its board and pages) still counts; set_withdrawal_limit writes the new.
_OLD_NAMES = {"soft-card": SOFT_CARD}
MAX_AMOUNT = Decimal(10) ** 15
PURPOSES = ("login", "withdrawal", "pin-change", "reactivation")
ACCESS = ("full", "portal")
MAX_NETWORKS = 64
_SEPARATORS = str.maketrans("", "", " -")
# The library's rejection reasons as the API's stable codes.
REASON_CODES = {"wrong": "wrong-response", "expired": "expired", "already used": "already-used",
                "locked": "locked", "no active card": "no-active-device",
                "unknown challenge": "unknown-challenge"}


class PolicyRefusal(ProvisioningError):
    """A request the policy refuses before anything is issued or consumed; `reason` is a stable
    code (`ip-not-allowed`, `device-limit`, `device-required`, ...), `status` the kind:
    "forbidden", "conflict", "not-found" or "invalid"."""

    def __init__(self, message: str, *, reason: str, status: str = "forbidden") -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Answer:
    """What the service tells the login server about one response."""

    status: str                             # "accepted", "portal-only" or "rejected"
    user: str
    purpose: str
    reason: str | None = None               # a stable code when rejected
    method: str | None = None               # "card", "passcode", "security-card", ...
    access: str | None = None               # "full" or "portal-only" (what the proof grants)
    device_type: str | None = None
    serial_number: str | None = None
    attempts_remaining: int | None = None
    locked_until: int | None = None
    hint: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status != "rejected"

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "accepted": self.status == "accepted",
                "user": self.user, "purpose": self.purpose, "reason": self.reason,
                "method": self.method, "access": self.access, "device_type": self.device_type,
                "serial_number": self.serial_number,
                "attempts_remaining": self.attempts_remaining,
                "locked_until": self.locked_until, "hint": self.hint}


@dataclass(frozen=True)
class Issued:
    challenge: verification.Challenge
    purpose: str
    access: str
    amount: Decimal | None
    device_type: str | None
    devices: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        ch = self.challenge
        return {"id": ch.id, "challenge": ch.challenge, "expires_at": ch.expires_at,
                "user": ch.user, "serial_number": ch.serial_number,
                "device_type": self.device_type, "cells": ch.cells, "purpose": self.purpose,
                "access": self.access,
                "amount": None if self.amount is None else str(self.amount),
                "also_answerable_with": self.devices}


# --- device types and limits --------------------------------------------------------------------
def card_type(card: Row) -> str:
    return SOFT_CARD if card["board"] in SOFT_BOARDS else DSC_CARD


def withdrawal_limits(reg: Registry) -> dict[str, int | None]:
    """The limits as set (MACed `settings` rows), the defaults for the device types not set.
    A row that fails its MAC or does not parse sets that device type's limit to 0 (fail closed:
    an edit cannot lift a limit; set it again with `set_withdrawal_limit`)."""
    return _limits_of(reg, _send_limits(reg).all())


def _send_limits(reg: Registry) -> Pending:
    return reg.db.send("SELECT * FROM settings WHERE name LIKE ?", (_LIMIT_SETTING + "%",))


def _limits_of(reg: Registry, rows: list[Row]) -> dict[str, int | None]:
    limits = dict(DEFAULT_LIMITS)
    for row in rows:
        kind = row["name"][len(_LIMIT_SETTING):]
        kind = _OLD_NAMES.get(kind, kind)
        if kind not in limits:
            continue
        value = str(row["value"])
        if not integrity.ok(reg.sealer, "settings", row) or not (
                value == "unlimited" or (value.isascii() and value.isdigit())):
            log.error("withdrawal limit %s in the registry fails its MAC check: 0 until it is "
                      "set again", row["name"][:60])
            limits[kind] = 0
            continue
        limits[kind] = None if value == "unlimited" else int(value)
    return limits


def set_withdrawal_limit(reg: Registry, device_type: str, limit: int | None) -> None:
    """`limit` in whole USD, None for no limit."""
    if device_type not in DEVICE_TYPES:
        raise InvalidInputError(f"unknown device type {device_type}; one of "
                                f"{', '.join(DEVICE_TYPES)}")
    if limit is not None and not 0 <= limit <= MAX_AMOUNT:
        raise InvalidInputError(f"a withdrawal limit is 0 to {MAX_AMOUNT} USD, or unlimited")
    name = _LIMIT_SETTING + device_type
    with reg.db.transaction():
        reg.db.execute("DELETE FROM settings WHERE name = ?", (name,))
        reg.insert("settings", name=name, value="unlimited" if limit is None else str(limit))
        reg.log("registry.config", "ok", detail={name: "unlimited" if limit is None else limit})


def parse_amount(value: object) -> Decimal:
    """A non-negative amount in USD (a JSON number or a decimal string, at most 2 decimals)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInputError("amount must be a number (USD)")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInputError("amount must be a number (USD)") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise InvalidInputError(f"amount must be between 0 and {MAX_AMOUNT} USD")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidInputError("amount has more than 2 decimals")
    return amount


def _covers(limits: dict[str, int | None], kind: str, amount: Decimal | None) -> bool:
    limit = limits[kind]
    return amount is None or limit is None or amount <= limit


# --- IP restrictions ----------------------------------------------------------------------------
def set_networks(reg: Registry, user: str, networks: list[str]) -> list[str]:
    """Restrict the user's logins to `networks` (CIDR); an empty list lifts the restriction."""
    if len(networks) > MAX_NETWORKS:
        raise InvalidInputError(f"at most {MAX_NETWORKS} networks per user")
    parsed = []
    for text in networks:
        try:
            parsed.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise InvalidInputError(f"not a network: {text[:60]!r}") from None
    canonical = sorted(set(parsed))
    with reg.db.transaction():
        urow = reg.user_row(user, lock=True)
        # The user's own MACed row says whether a restriction exists, so that deleting the
        # user_networks row does not lift it (a missing row then refuses, like a forged one).
        if (urow["ip_restricted"] is not None) != bool(canonical):
            reg.update("users", urow, ip_restricted=1 if canonical else None)
        reg.db.execute("DELETE FROM user_networks WHERE user_id = ?", (urow["id"],))
        if canonical:
            text = " ".join(canonical)
            reg.db.execute("INSERT INTO user_networks (user_id, networks, mac) VALUES (?, ?, ?)",
                           (urow["id"], text,
                            integrity.own_mac(reg.sealer, "user_networks",
                                              {"user_name": user, "networks": text})))
        reg.log("user.networks", "ok", user=user, detail={"networks": canonical})
    return canonical


_NETWORKS = "SELECT networks, mac AS networks_mac FROM user_networks WHERE user_id = {user}"


def networks(reg: Registry, urow: Row) -> list[str]:
    row = reg.db.one(_NETWORKS.format(user="?"), (urow["id"],))
    return _networks_of(reg, urow["name"], row, restricted=urow["ip_restricted"] is not None)


def _networks_of(reg: Registry, name: str, row: Row | None, *, restricted: bool) -> list[str]:
    """The networks of a row with `networks` and `networks_mac` (both None: no restriction,
    unless the user's row says there is one: `restricted`, from its `ip_restricted`)."""
    if row is None or row["networks"] is None:
        if restricted:  # the restriction's row was deleted by hand: fail closed
            raise PolicyRefusal(f"the IP restriction of {name} is missing from the registry "
                                f"(deleted without the master key): set it again",
                                reason="ip-restriction-broken")
        return []
    if not integrity.own_ok(reg.sealer, "user_networks",
                            {"user_name": name, "networks": row["networks"]},
                            row["networks_mac"]):
        # Fail closed: a restriction edited without the key file lets nobody in.
        raise PolicyRefusal(f"the IP restriction of {name} fails its MAC check (edited "
                            f"without the master key): set it again",
                            reason="ip-restriction-broken")
    return str(row["networks"]).split()


def _parse_ip(client_ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if client_ip is None:
        return None
    try:
        return ipaddress.ip_address(client_ip)
    except ValueError:
        raise PolicyRefusal("client_ip is not an IP address", reason="invalid-client-ip",
                            status="invalid") from None


def _check_ip(reg: Registry, urow: Row, row: Row | None, client_ip: str | None) -> None:
    """`urow`: the user's row, its MAC checked (`ip_restricted`: NULL set by hand is refused);
    `row`: the user's `networks` and `networks_mac`, None without a restriction's row."""
    ip = _parse_ip(client_ip)
    allowed = _networks_of(reg, urow["name"], row, restricted=urow["ip_restricted"] is not None)
    if not allowed:
        return
    if ip is None:
        raise PolicyRefusal(f"{urow['name']} may log in only from listed networks: give "
                            f"client_ip", reason="client-ip-required")
    if not any(ip in ipaddress.ip_network(n) for n in allowed):
        raise PolicyRefusal(f"{client_ip} is outside the networks {urow['name']} may log in "
                            f"from", reason="ip-not-allowed")


# --- devices --------------------------------------------------------------------------------------
def _cards(reg: Registry, user_id: int) -> list[Row]:
    return reg.db.all("SELECT c.* FROM assignments a JOIN cards c ON c.id = a.card_id "
                      "WHERE a.user_id = ? AND a.ended_at IS NULL ORDER BY c.serial_number",
                      (user_id,))


def _temp_kinds(reg: Registry, user_id: int, now: int) -> list[tuple[str, Row]]:
    kinds = {"passcode": PASSCODE, "grid": SECURITY_CODE_CARD}
    return [(kinds[r["kind"]], r) for r in temporary.valid_rows(reg, user_id, now)
            if r["kind"] in kinds]


def devices(reg: Registry, user: str, amount: Decimal | None = None) -> list[dict[str, Any]]:
    """What a login screen offers the user (M2FS: several devices at once), each with its type,
    state, withdrawal limit and whether it may answer (for `amount`, when given)."""
    urow = _user(reg, user)
    now, limits = reg.now(), withdrawal_limits(reg)
    out = []
    for card in _cards(reg, urow["id"]):
        if card["status"] not in lifecycle.USABLE:
            continue
        kind = card_type(card)
        usable = card["status"] in (lifecycle.ASSIGNED, lifecycle.ACTIVE)
        out.append({"device": card["serial_number"], "device_type": kind,
                    "status": card["status"], "withdrawal_limit": limits[kind],
                    "usable": usable and _covers(limits, kind, amount)})
    for kind, row in _temp_kinds(reg, urow["id"], now):
        portal = kind == PASSCODE and now >= int(row["full_until"])
        out.append({"device": kind, "device_type": kind, "status": "active",
                    "access": "portal-only" if portal else "full",
                    "expires_at": int(row["expires_at"]), "withdrawal_limit": limits[kind],
                    "usable": _covers(limits, kind, amount)})
    return out


def list_devices(reg: Registry, user: str, amount: Decimal | None = None) -> list[dict[str, Any]]:
    """`devices`, audited (the service logs every call under its client's name)."""
    with _refusals_logged(reg, "devices", user=user), reg.db.transaction():
        out = devices(reg, user, amount)
        reg.log("devices", "ok", user=user,
                detail={"amount": str(amount)} if amount is not None else None)
    return out


def support_view(reg: Registry, user: str) -> dict[str, Any]:
    """What the support console shows of a user (audited)."""
    with reg.db.transaction():
        view = support.user_view(reg, _user(reg, user)["name"])
        view["networks"] = networks(reg, reg.user_row(user))
        view["devices"] = devices(reg, user)
        reg.log("support.view", "ok", user=user)
    return view


def card_view(reg: Registry, serial_number: str) -> dict[str, Any]:
    with reg.db.transaction():
        view = reg.card(serial_number).as_json()
        reg.log("support.view", "ok", serial_number=serial_number)
    return view


@contextmanager
def _refusals_logged(reg: Registry, action: str, *, user: str | None = None,
                     challenge_id: str | None = None) -> Iterator[None]:
    """A refusal rolls its call back (nothing changes), then goes to the audit log on its own:
    who was turned away, and why, is the support desk's business."""
    try:
        yield
    except PolicyRefusal as e:
        detail: dict[str, Any] = {"reason": e.reason}
        with reg.db.transaction():
            if user is not None and reg.db.one("SELECT id FROM users WHERE name = ?",
                                               (user,)) is None:
                detail["unknown_user"] = user[:64]
                user = None
            if challenge_id is not None:
                detail["challenge"] = challenge_id[:32]
                row = reg.db.one("SELECT u.name FROM challenges c JOIN users u ON "
                                 "u.id = c.user_id WHERE c.id = ?", (challenge_id,))
                user = row["name"] if row else None
            reg.log(action, "refused", user=user, detail=detail)
        raise


def _user(reg: Registry, user: str) -> Row:
    try:
        return reg.user_row(user)
    except NotFoundError:
        raise PolicyRefusal(f"no user {user}", reason="unknown-user", status="not-found") from None


# --- challenges -----------------------------------------------------------------------------------
def issue(reg: Registry, user: str, *, device: str | None = None, purpose: str = "login",
          amount: Decimal | None = None, client_ip: str | None = None, access: str = "full",
          client: str) -> Issued:
    """A challenge for `user` under the policy, remembered with the client that asked."""
    with _refusals_logged(reg, "challenge", user=user):
        return retrying(reg.db, lambda: _issue(reg, user, device=device, purpose=purpose,
                                               amount=amount, client_ip=client_ip,
                                               access=access, client=client))


def _issue(reg: Registry, user: str, *, device: str | None, purpose: str,
           amount: Decimal | None, client_ip: str | None, access: str, client: str) -> Issued:
    if purpose not in PURPOSES:
        raise InvalidInputError(f"unknown purpose {purpose}; one of {', '.join(PURPOSES)}")
    if access not in ACCESS:
        raise InvalidInputError(f"unknown access {access}; one of {', '.join(ACCESS)}")
    if (amount is not None) != (purpose == "withdrawal"):
        raise InvalidInputError("a withdrawal needs an amount, and only a withdrawal takes one")
    if purpose != "login" and access != "full":
        raise InvalidInputError(f"{purpose} needs full access: portal access is for logins")
    _parse_ip(client_ip)
    # pipelined: every read (with BEGIN) in one flush, every write (with COMMIT) in the other
    with reg.db.transaction(pipeline=True):
        db = reg.db
        sent = verification.send_holder(reg, user, reg.now())  # the user's row locked first
        networks_sent = db.send(_NETWORKS.format(user="(SELECT id FROM users WHERE name = ?)"),
                                (user,))
        settings_sent = _send_limits(reg) if amount is not None else None
        audit.reserve(db)  # the entry's number and head
        try:
            holder = sent.read(reg)
        except NotFoundError:
            raise PolicyRefusal(f"no user {user}", reason="unknown-user",
                                status="not-found") from None
        urow = holder.user
        _check_ip(reg, urow, networks_sent.one(), client_ip)
        limits = DEFAULT_LIMITS if settings_sent is None else \
            _limits_of(reg, settings_sent.all())
        cards = holder.usable_cards(reg)
        kinds = {"passcode": PASSCODE, "grid": SECURITY_CODE_CARD}
        temp = [kinds[r["kind"]] for r in holder.temp if r["kind"] in kinds]
        card = _choose(urow, cards, temp, limits, device, amount, purpose)
        try:
            ch = verification.issue_challenge(reg, user, card["serial_number"] if card else None,
                                              holder=holder)
        except UserStateError as e:
            raise PolicyRefusal(str(e), reason="no-active-device", status="conflict") from None
        offered = [] if purpose in ("pin-change", "reactivation") else \
            [k for k in temp if _covers(limits, k, amount)]
        kind = None
        if ch.serial_number is not None:
            # the card it was issued for is one of the usable cards read (MACs checked)
            named = next((c for c in cards if c["serial_number"] == ch.serial_number), None)
            kind = card_type(named or reg.card_row(ch.serial_number))
        if secrets.randbelow(64) == 0:  # now and then, not on every call: old rows only
            db.execute("DELETE FROM api_challenges WHERE issued_at < ?", (reg.now() - 86400,))
        remembered = {"id": ch.id, "client": client, "purpose": purpose, "access": access,
                      "amount": None if amount is None else str(amount), "issued_at": reg.now()}
        db.execute("INSERT INTO api_challenges (id, client, purpose, access, amount, "
                   "issued_at, mac) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (*remembered.values(), integrity.mac(reg.sealer, "api_challenges", remembered)))
        reg.log("challenge", "issued", user=user, serial_number=ch.serial_number,
                detail={"challenge": ch.id, "purpose": purpose, "access": access,
                        **({"amount": str(amount)} if amount is not None else {})})
    return Issued(ch, purpose, access, amount, kind, offered)


def _choose(urow: Row, cards: list[Row], temp: list[str], limits: dict[str, int | None],
            device: str | None, amount: Decimal | None, purpose: str) -> Row | None:
    """The card the challenge is for (None: temporary access only)."""
    if device in (PASSCODE, SECURITY_CODE_CARD):
        if device not in temp:
            raise PolicyRefusal(f"{urow['name']} holds no valid {device}",
                                reason="unknown-device", status="conflict")
        if not _covers(limits, device, amount):
            raise _limit_refusal(device, limits, amount)
        # A challenge for temporary access names the card it stands in for, if one is held.
        return cards[0] if len(cards) == 1 else None
    if device is not None:
        card = next((c for c in cards if c["serial_number"] == device), None)
        if card is None:
            raise PolicyRefusal(f"{urow['name']} holds no usable device of that name",
                                reason="unknown-device", status="conflict")
        if not _covers(limits, card_type(card), amount):
            raise _limit_refusal(card_type(card), limits, amount)
        return card
    # Devices that can answer now: cards in use, and temporary access (an unavailable card
    # still names the challenge that its stand-ins answer).
    answering = [card_type(c) for c in cards
                 if c["status"] in (lifecycle.ASSIGNED, lifecycle.ACTIVE)] + temp
    if amount is not None and answering and not any(_covers(limits, k, amount)
                                                    for k in answering):
        raise _limit_refusal(answering[0], limits, amount)
    allowed = [c for c in cards if _covers(limits, card_type(c), amount)]
    if len(allowed) > 1:
        names = ", ".join(c["serial_number"] for c in allowed)
        raise PolicyRefusal(f"{urow['name']} holds several devices ({names}): the request "
                            f"must name one", reason="device-required", status="conflict")
    if allowed:
        return allowed[0]
    if purpose in ("pin-change", "reactivation") or not temp:
        raise PolicyRefusal(f"{urow['name']} has no active device", reason="no-active-device",
                            status="conflict")
    return None


def _limit_refusal(kind: str, limits: dict[str, int | None],
                   amount: Decimal | None) -> PolicyRefusal:
    return PolicyRefusal(f"the {kind} may withdraw up to {limits[kind]} USD, less than {amount}",
                         reason="device-limit")


# --- responses ------------------------------------------------------------------------------------
def normalise(response: str) -> str:
    """What the card displays (`1234 5678`, or typed with dashes) as the digits it means."""
    return response.translate(_SEPARATORS)


def _lookup(reg: Registry, challenge_id: str, client: str) -> Row:
    return _looked_up(reg, _send_lookup(reg, challenge_id), client)


def _send_lookup(reg: Registry, challenge_id: str) -> Pending:
    # One statement: the challenge, its user, what the service remembers, the card's suite.
    return reg.db.send("SELECT c.id, c.card_id, c.cells, c.user_id, u.name AS user_name, "
                       "a.client, a.purpose, a.access, a.amount, a.issued_at AS a_issued_at, "
                       "a.mac AS a_mac, k.suite, k.board, "
                       "k.serial_number FROM challenges c JOIN users u ON u.id = c.user_id "
                       "LEFT JOIN api_challenges a ON a.id = c.id "
                       "LEFT JOIN cards k ON k.id = c.card_id WHERE c.id = ?", (challenge_id,))


def _looked_up(reg: Registry, sent: Pending, client: str) -> Row:
    row = sent.one()
    if row is None or row["client"] != client:
        # Another client's challenge is as unknown to this one as a made-up id (a deleted
        # api_challenges row too: it answers nothing).
        raise PolicyRefusal("no such challenge", reason="unknown-challenge", status="not-found")
    # What the service remembers (purpose, access, amount: the withdrawal limit is checked
    # against it) is MACed: an edit, say the amount set to NULL, is refused.
    remembered = {"id": row["id"], "client": row["client"], "purpose": row["purpose"],
                  "access": row["access"], "amount": row["amount"],
                  "issued_at": row["a_issued_at"], "mac": row["a_mac"]}
    reg.checked("api_challenges", remembered)  # TamperedRowError (logged) when it fails
    return row


def _check_format(reg: Registry, ch: Row, response: str) -> None:
    """Refuse, before anything is counted or consumed, a response no device could have made."""
    digits = set()
    if ch["suite"] is not None:
        digits.add(ocra_check.suite_info(ch["suite"]).response_digits)
    if ch["cells"]:
        digits.add(len(ch["cells"].split()) * temporary.CODE_DIGITS)
    if response.isascii() and response.isdigit() and len(response) in digits:
        return  # the common case, decided without asking the database
    forms = [f"{n} digits" for n in sorted(digits)]
    passcode = any(k == PASSCODE for k, _ in _temp_kinds(reg, ch["user_id"], reg.now()))
    if passcode:
        forms.append(f"a {temporary.PASSCODE_LEN}-character passcode (upper case)")
    if not forms:
        return  # nothing could answer: the library says so (no active device)
    if not response:
        raise PolicyRefusal(f"the response is empty: expected {' or '.join(forms)}",
                            reason="malformed-response", status="invalid")
    if passcode and len(response) == temporary.PASSCODE_LEN and all(
            c in temporary.PASSCODE_ALPHABET for c in response):  # as printed: upper case
        return
    what = "has characters other than digits" if not (response.isascii() and response.isdigit()) \
        else f"has {len(response)} digits"
    raise PolicyRefusal(f"the response {what}: expected {' or '.join(forms)}",
                        reason="malformed-response", status="invalid")


def _answer(reg: Registry, ch: Row, outcome: verification.Outcome, purpose: str) -> Answer:
    kind = None
    if outcome.method == "card" and outcome.serial_number is not None:
        kind = card_type(ch if outcome.serial_number == ch["serial_number"]
                         else reg.card_row(outcome.serial_number))
    elif outcome.method == "passcode":
        kind = PASSCODE
    elif outcome.method == "security-card":
        kind = SECURITY_CODE_CARD
    elif outcome.method is not None:
        kind = outcome.method  # a method of a later issue names its own type
    reason = None
    if not outcome.accepted:
        reason = REASON_CODES.get(outcome.reason or "", (outcome.reason or "rejected")
                                  .replace(" ", "-"))
    status = "accepted" if outcome.accepted else "rejected"
    ans = Answer(status, outcome.user, purpose, reason, outcome.method, outcome.access, kind,
                 outcome.serial_number, outcome.attempts_remaining, outcome.locked_until,
                 outcome.hint)
    if not outcome.accepted:
        return ans
    if ch["amount"] is not None and kind is not None and \
            not _covers(withdrawal_limits(reg), kind, Decimal(ch["amount"])):
        return _refuse(reg, ans, "device-limit",
                       f"the {kind} may not authorise a withdrawal of {ch['amount']} USD")
    if outcome.access == "portal-only":
        if ch["access"] != "portal":
            return _refuse(reg, ans, "portal-only",
                           "the proof grants portal-only access, not the full access asked for")
        return replace(ans, status="portal-only")
    return ans


def _refuse(reg: Registry, ans: Answer, reason: str, hint: str) -> Answer:
    reg.log("verify.policy", "rejected", user=ans.user, serial_number=ans.serial_number,
            detail={"reason": reason, "method": ans.method, "access": ans.access})
    return replace(ans, status="rejected", reason=reason, hint=hint)


def respond(reg: Registry, challenge_id: str, response: str, *, client: str,
            purpose: str = "login") -> Answer:
    """Check a response to a challenge this client was issued, under the policy.

    `purpose` is what the caller means to do: "login" answers a login or withdrawal challenge."""
    with _refusals_logged(reg, "verify", challenge_id=challenge_id):
        return retrying(reg.db, lambda: _respond(reg, challenge_id, response, client=client,
                                                 purpose=purpose))


def _respond(reg: Registry, challenge_id: str, response: str, *, client: str,
            purpose: str = "login") -> Answer:
    response = normalise(response)
    # pipelined: the lookup and the verification's reads (with BEGIN) in one flush, found
    # from the challenge id alone; its writes (with COMMIT) in the other
    with reg.db.transaction(pipeline=True):
        lookup = _send_lookup(reg, challenge_id)
        sent = verification.send_reads(reg, challenge_id)
        ch = _looked_up(reg, lookup, client)
        wanted = ("login", "withdrawal") if purpose == "login" else (purpose,)
        if ch["purpose"] not in wanted:
            raise PolicyRefusal(f"the challenge was issued for {ch['purpose']}, not {purpose}",
                                reason="purpose-mismatch", status="conflict")
        _check_format(reg, ch, response)
        outcome = verification.verify(reg, ch["user_name"], challenge_id, response, sent=sent)
        return _answer(reg, ch, outcome, str(ch["purpose"]))


def _special(reg: Registry, challenge_id: str, response: str, client: str,
             purpose: str) -> tuple[Row, str]:
    response = normalise(response)
    ch = _lookup(reg, challenge_id, client)
    if ch["purpose"] != purpose:
        raise PolicyRefusal(f"the challenge was issued for {ch['purpose']}, not {purpose}",
                            reason="purpose-mismatch", status="conflict")
    _check_format(reg, ch, response)
    return ch, response


def _rejected(ch: Row, purpose: str, e: VerificationRejected) -> Answer:
    return Answer("rejected", ch["user_name"], purpose, REASON_CODES.get(e.reason, e.reason),
                  method="card", attempts_remaining=e.attempts_remaining)


def change_pin(reg: Registry, challenge_id: str, response: str, new_pin: str, *,
               client: str) -> Answer:
    """Store the new PIN when the card's response, made with it, matches."""
    with _refusals_logged(reg, "change-pin", challenge_id=challenge_id):
        return _change_pin(reg, challenge_id, response, new_pin, client=client)


def _change_pin(reg: Registry, challenge_id: str, response: str, new_pin: str, *,
               client: str) -> Answer:
    try:
        with reg.db.transaction():
            ch, response = _special(reg, challenge_id, response, client, "pin-change")
            try:
                verification.change_pin(reg, ch["user_name"], challenge_id, response, new_pin)
            except VerificationRejected as e:  # counted: commit, then answer
                return _rejected(ch, "pin-change", e)
    except (CardStateError, UserStateError) as e:
        raise PolicyRefusal(str(e), reason="no-active-device", status="conflict") from None
    return Answer("accepted", ch["user_name"], "pin-change", method="card", access="full")


def reactivate(reg: Registry, challenge_id: str, response: str, *, client: str) -> Answer:
    """A response from the unavailable card makes it active and ends all temporary access."""
    with _refusals_logged(reg, "reactivate", challenge_id=challenge_id):
        return _reactivate(reg, challenge_id, response, client=client)


def _reactivate(reg: Registry, challenge_id: str, response: str, *, client: str) -> Answer:
    try:
        with reg.db.transaction():
            ch, response = _special(reg, challenge_id, response, client, "reactivation")
            try:
                serial = verification.reactivate(reg, ch["user_name"], challenge_id, response)
            except VerificationRejected as e:  # counted: commit, then answer
                return _rejected(ch, "reactivation", e)
    except (CardStateError, UserStateError) as e:
        raise PolicyRefusal(str(e), reason="no-unavailable-card", status="conflict") from None
    return Answer("accepted", ch["user_name"], "reactivation", method="card", access="full",
                  serial_number=serial)


def describe_networks(reg: Registry, user: str) -> list[str]:
    return networks(reg, _user(reg, user))
