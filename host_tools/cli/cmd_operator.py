"""Operators of the support console (`/console` of `dsc serve`).

    dsc operator add NAME --role helpdesk|admin --user USER   (password from stdin)
    dsc operator list
    dsc operator disable NAME

USER is the registry user whose OpenDSC card the operator signs in with (password AND a
response from that card). The first admin is bootstrapped this way, from the shell.
"""

from __future__ import annotations

import argparse
from typing import Any

from host_tools.cli.options import add, common, emit, open_registry
from host_tools.secrets_input import read_text_secret
from provisioning import operators


def register(sub: Any) -> None:
    c = [common()]
    op = sub.add_parser("operator", help="support console operators: add, list, disable")
    osub = op.add_subparsers(dest="operator_command", metavar="ACTION", required=True)
    p = add(osub, "add", _add, "add an operator (the password is read from stdin)", c)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--role", choices=operators.ROLES, required=True,
                   help="helpdesk: look up and help holders; admin: also stock, operators, "
                        "API clients, settings and the whole audit log")
    p.add_argument("--user", required=True, metavar="USER",
                   help="the registry user whose OpenDSC card this operator signs in with")
    add(osub, "list", _list, "list operators", c)
    add(osub, "disable", _disable, "disable an operator (it can no longer sign in)", c) \
        .add_argument("name", metavar="NAME")


def _add(args: argparse.Namespace) -> int:
    password = read_text_secret(stdin=True, what="password")
    with open_registry(args) as reg:
        found = operators.add(reg, args.name, args.role, password, args.user)
    emit(args, found.as_json(), f"operator {found.name} ({found.role}) added; signs in with "
         f"the card of {found.user}")
    return 0


def _list(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        found = operators.list_operators(reg)
    emit(args, {"operators": [o.as_json() for o in found]},
         "\n".join(f"{o.name:<24} {o.role:<9} {o.user:<24} {o.as_json()['status']}"
                   for o in found) or "no operators")
    return 0


def _disable(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        found = operators.disable(reg, args.name)
    emit(args, found.as_json(), f"operator {found.name} disabled")
    return 0
