"""Support commands on the registry: cards and users through their life cycle, and logins.

    dsc assign SERIAL USER --pin-stdin     dsc challenge USER [--serial-number S]
    dsc activate SERIAL | --due            dsc verify USER CHALLENGE_ID RESPONSE|-
    dsc lost SERIAL | found SERIAL         dsc reactivate USER CHALLENGE_ID RESPONSE
    dsc replace OLD NEW                    dsc change-pin USER ID RESPONSE --new-pin-stdin
    dsc return SERIAL                      dsc reset-pin USER --pin-stdin
    dsc retire SERIAL                      dsc unlock USER
    dsc temp-passcode USER [--serial-number S]
    dsc security-card USER --out FILE.png|.pdf [--serial-number S]
    dsc show SERIAL|USER                   dsc list [--status S]

Every command takes --db, --master-key-file, --operator and --json. `verify` exits 0 when
accepted with full access, 3 when accepted for the portal only, and 1 when rejected.
The logic lives in `provisioning`; this module only parses.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from host_tools.cli.exits import UsageError
from host_tools.cli.options import add, common, emit, open_registry, read_pin, read_response, when
from provisioning import support, temporary, verification
from provisioning.errors import NotFoundError
from provisioning.lifecycle import STATES

PORTAL_ONLY = 3  # `dsc verify`: accepted, but for the portal only (not a full login)


def register(sub: Any) -> None:
    c = [common()]
    p = add(sub, "assign", _assign, "assign a card in stock to a user (PIN on stdin)", c)
    p.add_argument("serial_number", metavar="SERIAL")
    p.add_argument("user", metavar="USER")
    p.add_argument("--pin-stdin", action="store_true",
                   help="read the PIN the user chose from stdin (leave it out when the "
                        "user already has a PIN: it is one PIN for all their cards)")
    p.add_argument("--replace-pin", action="store_true",
                   help="with --pin-stdin: replace the user's PIN, for all their cards")
    p = add(sub, "activate", _activate, "activate an assigned card (or all that are due)", c)
    p.add_argument("serial_number", metavar="SERIAL", nargs="?")
    p.add_argument("--due", action="store_true",
                   help="activate every card whose automatic-activation day has come")
    for name, func, text in (("lost", _lost, "report a card lost or damaged (disables it)"),
                             ("found", _found, "a lost card turned up: active again, or "
                                               "returned when a replacement took its place"),
                             ("return", _return, "record a lost or damaged card as returned"),
                             ("retire", _retire, "retire a returned card for good")):
        add(sub, name, func, text, c).add_argument("serial_number", metavar="SERIAL")
    p = add(sub, "replace", _replace, "give the users of a lost card a card from stock", c)
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    _register_login(sub, c)
    _register_views(sub, c)


def _register_login(sub: Any, c: list[argparse.ArgumentParser]) -> None:
    p = add(sub, "challenge", _challenge, "issue a single-use login challenge", c)
    p.add_argument("user", metavar="USER")
    p.add_argument("--serial-number", help="which of the user's cards (when several)")
    for name, func, text in (
            ("verify", _verify, "check a response (or temporary passcode / code): exit 0 "
                                "accepted (full access), 3 accepted for the portal only, "
                                "1 rejected"),
            ("reactivate", _reactivate, "end temporary access with a response from the card"),
            ("change-pin", _change_pin, "store a new PIN if the response made with it matches")):
        p = add(sub, name, func, text, c)
        p.add_argument("user", metavar="USER")
        p.add_argument("challenge_id", metavar="CHALLENGE_ID")
        p.add_argument("response", metavar="RESPONSE", help="the response; - reads it from stdin")
        if name == "change-pin":
            p.add_argument("--new-pin-stdin", action="store_true", required=True,
                           help="read the new PIN from stdin")
    p = add(sub, "reset-pin", _reset_pin, "set a new PIN for a user who forgot it", c)
    p.add_argument("user", metavar="USER")
    p.add_argument("--pin-stdin", action="store_true", required=True,
                   help="read the new PIN from stdin")
    add(sub, "unlock", _unlock, "clear a user's failure count and lock", c) \
        .add_argument("user", metavar="USER")
    for name, func, text in (
            ("temp-passcode", _temp_passcode, "issue a temporary passcode (shown once)"),
            ("security-card", _security_card, "issue an online security code card")):
        p = add(sub, name, func, text, c)
        p.add_argument("user", metavar="USER")
        p.add_argument("--serial-number", help="the card it stands in for (when the user holds "
                                               "several)")
    p.add_argument("--out", type=Path, required=True, help="file to write: .png or .pdf")


def _register_views(sub: Any, c: list[argparse.ArgumentParser]) -> None:
    add(sub, "show", _show, "show a card (by serial number) or a user", c) \
        .add_argument("name", metavar="SERIAL|USER")
    p = add(sub, "list", _list, "list cards", c)
    p.add_argument("--status", choices=STATES)


# --- handlers -----------------------------------------------------------------------------------
def _assign(args: argparse.Namespace) -> int:
    if args.replace_pin and not args.pin_stdin:
        raise UsageError("--replace-pin needs the new PIN (--pin-stdin)")
    pin = read_pin() if args.pin_stdin else None
    with open_registry(args) as reg:
        try:
            status = support.assign(reg, args.serial_number, args.user, pin, args.replace_pin)
        except support.PinConflict as e:
            hint = ("leave out --pin-stdin to keep it, or add --replace-pin to mean it"
                    if e.kind == "replace" else "or --pin-stdin --replace-pin")
            raise UsageError(f"{e} ({hint}); nothing changed") from None
    emit(args, {"serial_number": args.serial_number, "user": args.user, "status": status},
         f"card {args.serial_number} assigned to {args.user} ({status})")
    return 0


def _activate(args: argparse.Namespace) -> int:
    if bool(args.due) == bool(args.serial_number):
        raise UsageError("give either a serial number or --due")
    with open_registry(args) as reg:
        if args.due:
            done = support.activate_due(reg)
        else:
            support.activate(reg, args.serial_number)
            done = [args.serial_number]
    emit(args, {"cards": [{"serial_number": s, "status": "active"} for s in done]},
         "\n".join(f"card {s} active" for s in done) or "no card was due")
    return 0


def _simple(args: argparse.Namespace, action: str, status: str) -> int:
    with open_registry(args) as reg:
        if action == "lost":
            support.mark_lost(reg, args.serial_number)
        elif action == "return":
            support.return_card(reg, args.serial_number)
        else:
            support.finish(reg, args.serial_number, action)
    emit(args, {"serial_number": args.serial_number, "status": status},
         f"card {args.serial_number} {status}")
    return 0


def _lost(args: argparse.Namespace) -> int:
    return _simple(args, "lost", "lost")


def _found(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        status = support.found(reg, args.serial_number)
    emit(args, {"serial_number": args.serial_number, "status": status},
         f"card {args.serial_number} {status}" + (
             "" if status == "active" else " (a replacement took its place): wipe or retire it"))
    return 0


def _return(args: argparse.Namespace) -> int:
    return _simple(args, "return", "returned")


def _retire(args: argparse.Namespace) -> int:
    return _simple(args, "retire", "retired")


def _replace(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        users = support.replace(reg, args.old, args.new)
    emit(args, {"serial_number": args.new, "replaces": args.old, "users": users,
                "status": "assigned"},
         f"card {args.new} replaces {args.old} for {', '.join(users)} (assigned)")
    return 0


def _challenge(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        ch = verification.issue_challenge(reg, args.user, args.serial_number)
    text = f"challenge {ch.challenge}  (id {ch.id}, expires {when(ch.expires_at)})"
    if ch.cells:
        text += f"\nsecurity card cells: {ch.cells}"
    emit(args, ch.as_json(), text)
    return 0


def _verify(args: argparse.Namespace) -> int:
    response = read_response(args.response)
    with open_registry(args) as reg:
        outcome = verification.verify(reg, args.user, args.challenge_id, response)
    emit(args, outcome.as_json(), outcome.describe())
    if not outcome.accepted:
        return 1
    return PORTAL_ONLY if outcome.access == "portal-only" else 0


def _reactivate(args: argparse.Namespace) -> int:
    response = read_response(args.response)
    with open_registry(args) as reg:
        serial = verification.reactivate(reg, args.user, args.challenge_id, response)
    emit(args, {"serial_number": serial, "user": args.user, "status": "active"},
         f"card {serial} active again; temporary access of {args.user} ended")
    return 0


def _change_pin(args: argparse.Namespace) -> int:
    # Response first (if "-"), then the new PIN: one line each on stdin.
    response = read_response(args.response)
    pin = read_pin("new PIN")
    with open_registry(args) as reg:
        verification.change_pin(reg, args.user, args.challenge_id, response, pin)
    emit(args, {"user": args.user, "status": "pin changed"}, f"PIN of {args.user} changed")
    return 0


def _reset_pin(args: argparse.Namespace) -> int:
    pin = read_pin("new PIN")
    with open_registry(args) as reg:
        support.reset_pin(reg, args.user, pin)
    emit(args, {"user": args.user, "status": "pin reset"}, f"PIN of {args.user} reset")
    return 0


def _unlock(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        was = support.unlock(reg, args.user)
    emit(args, {"user": args.user, "status": "ok", "was_locked": was},
         f"{args.user} unlocked" if was else f"{args.user} was not locked; failure count cleared")
    return 0


def _temp_passcode(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        code, full_until, expires = temporary.issue_passcode(reg, args.user,
                                                             args.serial_number)
    # Shown once: the registry keeps only a hash.
    emit(args, {"user": args.user, "passcode": code, "full_access_until": full_until,
                "expires_at": expires, "status": "temporary access"},
         f"temporary passcode for {args.user}: {code}\n"
         f"full access until {when(full_until)}, portal only until {when(expires)}")
    return 0


def _security_card(args: argparse.Namespace) -> int:
    from provisioning import grid_render

    grid_render.check_path(args.out)
    written: list[Path] = []

    def deliver(grid: list[str], expires_at: int) -> None:
        grid_render.render(grid, args.user, expires_at, args.out)
        written.append(args.out)

    with open_registry(args) as reg:
        # the file is written inside the transaction: when it cannot be, nothing is issued;
        # when the transaction fails after it, the file goes again
        try:
            _, expires = temporary.issue_security_card(reg, args.user, args.serial_number,
                                                       deliver)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
    emit(args, {"user": args.user, "file": str(args.out), "expires_at": expires,
                "status": "temporary access"},
         f"security code card for {args.user} written to {args.out} (valid until "
         f"{when(expires)}); hand it over, then delete the file")
    return 0


def _show(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        try:
            card = support.card_view(reg, args.name)
        except NotFoundError:
            try:
                view = support.user_view(reg, args.name)
            except NotFoundError:
                raise NotFoundError(f"no card or user {args.name} in the registry") from None
            emit(args, view, _user_text(view))
            return 0
    data = card.as_json()
    emit(args, data, "\n".join(f"{k}: {when(v) if k.endswith('_at') else v}"
                               for k, v in data.items()))
    return 0


def _user_text(view: dict[str, Any]) -> str:
    lines = [f"user: {view['user']}  ({view['status']}, {view['failures']} failures)"]
    lines += [f"  card {c['serial_number']}: {c['status']}"
              + (" (development card: not LOCKed)" if c["development"] else "")
              for c in view["cards"]]
    lines += [f"  temporary {t['kind']} until {when(t['expires_at'])}"
              + (f" in place of {t['in_place_of']}" if t["in_place_of"] else "")
              for t in view["temporary_access"]]
    return "\n".join(lines)


def _list(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        cards = support.card_list(reg, args.status)
    emit(args, {"cards": [c.as_json() for c in cards]},
         "\n".join(f"{c.serial_number}  {c.status:<12} {c.suite}  {', '.join(c.users)}"
                   for c in cards) or "no cards")
    return 0
