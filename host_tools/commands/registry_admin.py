"""Registry administration: set-up, key rotation, settings, provisioning, wipe, audit, PSKC.

    dsc registry init | rotate-key | config [NAME VALUE]
    dsc provision --port P|auto [--port P2 ...] [--count N] [--suite S] [--batch NAME]
                  [--timeout SECONDS] [--dev]
    dsc wipe SERIAL --port P
    dsc audit [--verify [--expect HASH] | --anchor] [--user U] [--serial-number S] [--limit N]
    dsc pskc export --out F (--password-stdin | --psk-file F) [SERIAL ...]
    dsc pskc import F (--password-stdin | --psk-file F)

The master admin key (from which each card's admin key is derived, see host_tools.admin_keys)
comes from `--admin-master-key-file` or the file named by `DSC_ADMIN_MASTER_KEY_FILE`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from host_tools.errors import UsageError
from host_tools.secrets_input import read_hex_secret, read_text_secret
from host_tools.text import printable
from provisioning import audit, pskc_io, support
from provisioning.cliutil import add, common, emit, open_registry, stderr, when
from provisioning.registry import DEFAULT_SUITE, Policy, Registry


def register(sub: Any) -> None:
    c = [common()]
    reg = sub.add_parser("registry", help="create the registry, rotate its key, settings")
    rsub = reg.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    add(rsub, "init", _init, "create the master key file (0600) and the registry schema", c)
    add(rsub, "rotate-key", _rotate, "re-encrypt every secret under a fresh master key", c)
    p = add(rsub, "config", _config, "show the settings, or set NAME to VALUE", c)
    p.add_argument("name", nargs="?", choices=Policy.names(), metavar="NAME")
    p.add_argument("value", nargs="?", type=int, metavar="VALUE")
    _register_cards(sub, c)
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


def _register_cards(sub: Any, c: list[argparse.ArgumentParser]) -> None:
    p = add(sub, "provision", _provision, "load new cards and record them in the registry", c)
    p.add_argument("--port", action="append", required=True,
                   help="card port (device, pty or URL), or auto; repeat for several cards")
    p.add_argument("--count", type=int, default=None,
                   help="new cards to provision, swapping cards on the ports (default: one "
                        "per --port; a port whose card is already done counts)")
    p.add_argument("--suite", default=DEFAULT_SUITE)
    p.add_argument("--batch", help="batch name recorded with each card")
    p.add_argument("--pin-len", type=int, default=4)
    p.add_argument("--wait", type=float, default=300.0,
                   help="seconds to wait for each next card (default 300)")
    p.add_argument("--timeout", type=_seconds, default=3.0,
                   help="seconds to wait for each answer of a card (default 3; more for slow "
                        "lines)")
    p.add_argument("--dev", action="store_true",
                   help="development cards: leave them without the production lock (REPL "
                        "reachable; recorded as development cards, never for issue)")
    p.add_argument("--admin-master-key-file",
                   help="hex master admin key file (else $DSC_ADMIN_MASTER_KEY_FILE)")
    p = add(sub, "wipe", _wipe, "wipe a returned card over the service protocol, for reuse", c)
    p.add_argument("serial_number", metavar="SERIAL")
    p.add_argument("--port", required=True)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError("give seconds, more than 0 and at most 600")
    return value


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
        data = {"key_file": str(reg.key_file), "key_created": created,
                "migrations_applied": applied, "status": "ready"}
    emit(args, data, f"registry ready ({applied} migrations applied); master key file "
                     f"{data['key_file']} {'created' if created else 'kept'}")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    with open_registry(args) as reg:
        kid = reg.rotate_key()
    emit(args, {"key_id": kid, "status": "rotated"}, f"secrets re-encrypted under key {kid}")
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


# --- cards ----------------------------------------------------------------------------------
def _provision(args: argparse.Namespace) -> int:
    from provisioning import cardlink, provisioner

    master = cardlink.read_master_admin_key(args.admin_master_key_file)
    ports = cardlink.resolve_ports(args.port)
    if args.count is not None and args.count < 1:
        raise UsageError("--count must be at least 1")
    if not 4 <= args.pin_len <= 12:
        raise UsageError("--pin-len must be 4 to 12")
    opts = provisioner.Options(suite=args.suite, batch=args.batch, pin_len=args.pin_len,
                               development=args.dev)
    bar = _ProgressBar()
    timeout = args.timeout
    with open_registry(args) as reg:
        result = provisioner.provision_batch(
            reg, ports, lambda port: cardlink.open_client(port, timeout), args.count, master,
            cardlink.derive_admin_key, opts, wait=args.wait, report=bar.say, progress=bar.draw)
    bar.close()
    return _summary(args, result)


class _ProgressBar:
    """A bar on stderr, redrawn in place; messages get lines of their own above it."""

    width = 30

    def __init__(self) -> None:
        self.open = False  # the cursor is at the end of a drawn bar

    def draw(self, done: int, total: int) -> None:
        filled = self.width * done // max(total, 1)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}")
        sys.stderr.flush()
        self.open = True

    def say(self, text: str) -> None:
        self.close()
        stderr(text)

    def close(self) -> None:
        if self.open:
            sys.stderr.write("\n")
            self.open = False


def _summary(args: argparse.Namespace, result: Any) -> int:
    single = result.wanted == 1 and len(result.done) == 1
    if args.json:
        emit(args, result.done[0].as_json() if single else result.as_json(), "")
    else:
        for p in result.done:
            lock = "locked" if p.locked else "development card, not locked"
            print(f"{p.serial_number}  provisioned  {p.suite}  {lock}  ({p.seconds:.2f} s)")
        print(f"{len(result.done)} of {result.wanted} cards provisioned"
              + (f", {len(result.skipped)} already done" if result.skipped else ""))
    if result.failed:
        stderr(f"dsc: error: {result.failed}")
        return 1
    return 0


def _wipe(args: argparse.Namespace) -> int:
    from provisioning import cardlink, provisioner, support

    with open_registry(args) as reg:
        support.check_can(reg, args.serial_number, "wipe")
        client = cardlink.open_client(args.port)
        try:
            provisioner.wipe_card(reg, args.serial_number, client)
        finally:
            client.close()
    emit(args, {"serial_number": args.serial_number, "status": "wiped"},
         f"card {args.serial_number} wiped: it is blank, ready to be provisioned again")
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
            count, head, found = support.verify_audit(reg, args.expect)
            data: dict[str, Any] = {"entries": count, "head": head, "status": "intact"}
            text = f"audit log intact: {count} entries, head {head}"
            if found is not None:
                data["expected_at"] = found
                text += f"; the expected head is entry {found}"
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
