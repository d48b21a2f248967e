"""Registry administration: set-up, key rotation, settings, audit, PSKC.

    dsc registry init | rotate-key | config [NAME VALUE]
    dsc audit [--verify [--expect HASH] | --anchor] [--user U] [--serial-number S] [--limit N]
    dsc pskc export --out F (--password-stdin | --psk-file F) [SERIAL ...]
    dsc pskc import F (--password-stdin | --psk-file F)

Provisioning cards and wiping them is `cmd_provision`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from host_tools import admin_keys
from host_tools.cli.exits import UsageError
from host_tools.cli.options import add, common, emit, open_registry, when
from host_tools.secrets_input import read_hex_secret, read_text_secret
from host_tools.text import printable
from provisioning import audit, pskc_io, support
from provisioning.registry import Policy, Registry


def register(sub: Any) -> None:
    c = [common()]
    reg = sub.add_parser("registry",
                         help="create the registry and the master keys, rotate, settings")
    rsub = reg.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    add(rsub, "init", _init, "create the master key files (0600) and the registry schema", c)
    add(rsub, "rotate-key", _rotate, "re-encrypt every secret under a fresh master key", c)
    p = add(rsub, "config", _config, "show the settings, or set NAME to VALUE", c)
    p.add_argument("name", nargs="?", choices=Policy.names(), metavar="NAME")
    p.add_argument("value", nargs="?", type=int, metavar="VALUE")
    p = add(rsub, "vouch", _vouch, "after a refused row (integrity check failed) was looked "
            "into and put right: MAC it again as it stands (logged)", c)
    p.add_argument("table", metavar="TABLE", help="as the error names it: users, cards, ...")
    p.add_argument("row", metavar="ID", help="the row's id (the N of id=N in the error)")
    p.add_argument("--why", required=True, help="what the investigation found (logged)")
    p = add(sub, "audit", _audit, "show the audit log, or --verify its hash chain", c)
    p.add_argument("--verify", action="store_true", help="check the hash chain and its head")
    p.add_argument("--expect", metavar="HASH",
                   help="with --verify: a head hash printed earlier (kept in the ticket "
                        "system); the log must still hold that entry")
    p.add_argument("--anchor", action="store_true",
                   help="after an alarm was looked into: vouch for the log as it stands "
                        "(MAC its head again; logged)")
    p.add_argument("--user")
    p.add_argument("--serial-number")
    p.add_argument("--limit", type=int, default=50)
    _register_pskc(sub, c)


def _register_pskc(sub: Any, c: list[argparse.ArgumentParser]) -> None:
    ps = sub.add_parser("pskc", help="exchange card seeds with other servers (RFC 6030)")
    psub = ps.add_subparsers(dest="pskc_command", metavar="ACTION", required=True)
    p = add(psub, "export", _export, "write cards' seeds to an encrypted PSKC file", c)
    p.add_argument("serials", nargs="*", metavar="SERIAL")
    p.add_argument("--out", type=Path, required=True)
    _protection_args(p)
    p = add(psub, "import", _import, "record the cards of a PSKC file as provisioned", c)
    p.add_argument("file", type=Path)
    p.add_argument("--batch")
    _protection_args(p)


def _protection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--psk-file", type=Path, help="pre-shared AES key, hex text")


def _protection(args: argparse.Namespace, required: bool = True) -> pskc_io.Protection | None:
    if args.password_stdin and args.psk_file:
        raise UsageError("give --password-stdin or --psk-file, not both")
    if args.password_stdin:
        return pskc_io.Protection(password=read_text_secret(stdin=True, what="password"))
    if args.psk_file:
        return pskc_io.Protection(psk=read_hex_secret(file=args.psk_file, what="pre-shared key",
                                                      min_bytes=16, max_bytes=32))
    if required:
        raise UsageError("give --password-stdin or --psk-file (PSKC exports are always "
                         "encrypted)")
    return None


# --- registry -------------------------------------------------------------------------------
def _init(args: argparse.Namespace) -> int:
    reg, created, applied = Registry.init(args.db, args.master_key_file, operator=args.operator)
    with reg:
        admin_file = admin_keys.default_master_key_file(beside=reg.key_file.parent)
        admin_created = admin_keys.ensure_master_key_file(admin_file)
        data = {"key_file": str(reg.key_file), "key_created": created,
                "admin_master_key_file": str(admin_file), "admin_master_key_created": admin_created,
                "migrations_applied": applied, "status": "ready"}
    emit(args, data, f"registry ready ({applied} migrations applied); master key file "
                     f"{data['key_file']} {'created' if created else 'kept'}; master admin key "
                     f"file {admin_file} {'created' if admin_created else 'kept'}")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        kid = reg.rotate_key()
    emit(args, {"key_id": kid, "status": "rotated"},
         f"secrets re-encrypted and row MACs renewed under key {kid}; a running `dsc serve` "
         f"takes the new key at its next request")
    return 0


def _config(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        if args.name is not None:
            if args.value is None:
                raise UsageError(f"give a value for {args.name}")
            reg.set_policy(args.name, args.value)
        data = {n: getattr(reg.policy, n) for n in Policy.names()}
    emit(args, data, "\n".join(f"{k} = {v}" for k, v in data.items()))
    return 0


def _vouch(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        held = reg.vouch_row(args.table, args.row, args.why)
    emit(args, {"table": args.table, "row": args.row, "status": "vouched", "was_valid": held},
         f"{args.table} row {args.row} vouched for (logged as integrity.vouch)")
    return 0


# --- audit, PSKC ----------------------------------------------------------------------------
def _audit(args: argparse.Namespace) -> int:
    if args.verify and args.anchor:
        raise UsageError("give --verify or --anchor, not both")
    if args.expect is not None and not args.verify:
        raise UsageError("--expect goes with --verify")
    with open_registry(args) as reg:
        if args.anchor:
            seq = reg.anchor_audit("support, after an investigation")
            emit(args, {"head": seq, "status": "anchored"},
                 f"audit head re-anchored at entry {seq} (logged as audit.anchor)")
            return 0
        if args.verify:
            count, head = support.verify_audit(reg, args.expect)
            rows = reg.verify_rows()  # and the row MACs (TamperedRowError names the first)
            audit.checkpoint(reg.db, reg.sealer, reg.now())  # so `head` stays provable
            data: dict[str, Any] = {"entries": count, "head": head, "status": "intact",
                                    "rows": rows}
            text = f"audit log intact: {count} entries, head {head}; {rows} rows vouched for"
            if args.expect is not None:
                data["expected"] = "held"
                text += "; it still holds the expected head"
            emit(args, data, text)
            return 0
        items = audit.entries(reg.db, user=args.user, serial_number=args.serial_number,
                              limit=args.limit)
    emit(args, {"entries": [e.as_json() for e in items]},
         "\n".join(_audit_line(e) for e in items) or "no entries")
    return 0


def _audit_line(e: audit.Entry) -> str:
    # operator names and details come from outside: escaped, no terminal escapes get through
    return printable(f"{e.seq:>6} {when(e.at)} {e.operator:<10} {e.action:<18} {e.outcome:<9} "
                     f"{e.serial_number or '-':<12} {e.user or '-'} {e.detail or ''}")


def _export(args: argparse.Namespace) -> int:
    protection = _protection(args)
    assert protection is not None
    with open_registry(args) as reg:
        done = pskc_io.export(reg, args.out, protection, args.serials or None)
    emit(args, {"cards": [{"serial_number": s} for s in done], "file": str(args.out)},
         f"{len(done)} cards written to {args.out} (encrypted with a {protection.kind})")
    return 0


def _import(args: argparse.Namespace) -> int:
    protection = _protection(args, required=False)
    with open_registry(args) as reg:
        done = pskc_io.import_file(reg, args.file, protection, args.batch)
    emit(args, {"cards": [{"serial_number": s, "status": "provisioned"} for s in done]},
         f"{len(done)} cards imported as provisioned: {', '.join(done)}")
    return 0
