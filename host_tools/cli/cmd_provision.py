"""Loading cards: provisioning new cards into the registry, wiping returned ones.

    dsc provision --port P|auto [--port P2 ...] [--count N] [--suite S] [--batch NAME]
                  [--timeout SECONDS] [--dev]
    dsc wipe SERIAL --port P

The master admin key (from which each card's admin key is derived, see host_tools.admin_keys)
comes from `--admin-master-key-file` or the file named by `DSC_ADMIN_MASTER_KEY_FILE`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from host_tools import admin_keys
from host_tools.cli.exits import UsageError, message
from host_tools.cli.options import add, common, emit, open_registry, seconds, stderr
from provisioning.registry import DEFAULT_SUITE


def register(sub: Any) -> None:
    c = [common()]
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
    p.add_argument("--timeout", type=seconds, default=3.0,
                   help="seconds to wait for each answer of a card (default 3; more for slow "
                        "lines)")
    p.add_argument("--dev", action="store_true",
                   help="development cards: leave them without the production lock (REPL "
                        "reachable; recorded as development cards, never for issue)")
    p.add_argument("--admin-master-key-file",
                   help="hex master admin key file (default: $DSC_ADMIN_MASTER_KEY_FILE, else "
                        "admin-master.key beside the registry master key, which "
                        "`dsc registry init` creates)")
    p = add(sub, "wipe", _wipe, "wipe a returned card over the service protocol, for reuse", c)
    p.add_argument("serial_number", metavar="SERIAL")
    p.add_argument("--port", required=True)


def _provision(args: argparse.Namespace) -> int:
    from provisioning import cardlink, provisioner

    if args.count is not None and args.count < 1:
        raise UsageError("--count must be at least 1")
    opts = provisioner.Options(suite=args.suite, batch=args.batch, pin_len=args.pin_len,
                               development=args.dev)
    bar = _ProgressBar()
    timeout = args.timeout
    with open_registry(args) as reg:
        master = admin_keys.read_master_key(args.admin_master_key_file,
                                            beside=reg.key_file.parent)
        ports = cardlink.resolve_ports(args.port)
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
    failed = message(result.error) if result.error else result.failed  # with the command hint
    if args.json:
        data = result.done[0].as_json() if single else {**result.as_json(), "failed": failed}
        emit(args, data, "")
    else:
        for p in result.done:
            lock = "locked" if p.locked else "development card, not locked"
            print(f"{p.serial_number}  provisioned  {p.suite}  {lock}  ({p.seconds:.2f} s)")
        print(f"{len(result.done)} of {result.wanted} cards provisioned"
              + (f", {len(result.skipped)} already done" if result.skipped else ""))
    if result.failed:
        stderr(f"dsc: error: {failed}")
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
