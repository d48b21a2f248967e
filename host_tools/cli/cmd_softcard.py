"""Soft cards (docs/softcard.md): the one-time activation code, and the soft card's life cycle.

    dsc softcard create USER [--base-url URL] [--qr FILE.svg]
    dsc softcard disable|enable|remove SERIAL

`create` prints the code (once: only its hash is stored) and the activation URL; --qr writes
the URL's QR code as SVG for the holder to scan. The logic lives in provisioning.softcard.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from host_tools.cli.options import add, common, emit, open_registry


def register(sub: Any) -> None:
    top = sub.add_parser("softcard", help="soft cards: one-time activation codes, disable, "
                                          "enable, remove",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    inner = top.add_subparsers(dest="softcard_command", metavar="ACTION", required=True)
    c = [common()]
    p = add(inner, "create", _create, "a one-time activation code for a new soft card of USER "
            "(who has a PIN)", c)
    p.add_argument("user", metavar="USER")
    p.add_argument("--base-url", default="http://127.0.0.1:8000",
                   help="where `dsc serve` is reached, for the activation URL "
                        "(default: %(default)s)")
    p.add_argument("--qr", type=Path, metavar="FILE.svg", help="write the URL's QR code here")
    for action in ("disable", "enable", "remove"):
        add(inner, action, _state, f"{action} a soft card", c) \
            .add_argument("serial_number", metavar="SERIAL")


def _create(args: argparse.Namespace) -> int:
    from provisioning import softcard

    with open_registry(args) as reg:
        act = softcard.create(reg, args.user)
    url = f"{args.base_url.rstrip('/')}/softcard#code={act.code}"
    if args.qr is not None:
        from host_tools.qr import qr_svg
        args.qr.write_text(qr_svg(url), encoding="utf-8")
    emit(args, {**act.as_json(), "url": url},
         f"activation code for {act.user}: {act.code} (once, until {act.expires_at})\n{url}")
    return 0


def _state(args: argparse.Namespace) -> int:
    from provisioning import softcard

    action = args.softcard_command
    with open_registry(args) as reg:
        status = softcard.set_state(reg, args.serial_number, action)
    emit(args, {"serial_number": args.serial_number, "status": status},
         f"soft card {args.serial_number} {status}")
    return 0
