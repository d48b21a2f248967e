"""`dsc card`: talk to one card over its serial port (low level, for developers).

    dsc card list [--json]
    dsc card info --port P [--json]
    dsc card provision --port P --serial-number N [--suite S] (--key-file F | --key-stdin)
                       --admin-key-file F [--current-admin-key-file F] [--json]
    dsc card test --port P --challenge Q [--pin PIN | --pin-stdin | --pin-file F | --pin-env V]
                  [--session-info HEX] --admin-key-file F [--json]
    dsc card wipe --port P --admin-key-file F [--json]
    dsc card lock --port P --admin-key-file F [--json]
    dsc card set-time --port P --admin-key-file F [--json]

Support staff provision cards through the registry (`dsc provision`), which records them.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dsc import ocra, record

from host_tools import admin_keys, discovery
from host_tools.cli.exits import CommandFailed, UsageError
from host_tools.cli.options import pin_from_args, seconds
from host_tools.client import CardClient, CardInfo, NotProvisioned
from host_tools.confirm import confirm_seed
from host_tools.secrets_input import read_hex_secret
from host_tools.text import printable
from host_tools.transport import TransportError, open_transport

DEFAULT_SUITE = record.DEFAULT_SUITE
EPILOG = """\
--port takes a device path (/dev/ttyACM0, COM3), a pty path, a pyserial URL (socket://HOST:PORT)
or "auto" (the only card attached). Key files hold the key as hex text. The admin key is the
card's own (--admin-key-file), or derived from the card's serial number and the master admin
key in --admin-master-key-file, else the file named by DSC_ADMIN_MASTER_KEY_FILE, else
~/.config/opendsc/admin-master.key (made by `dsc registry init`, mode 0600).
--pin puts the PIN in the command line, where other users of this machine can see it: a test
convenience (warned about when used); else --pin-stdin, --pin-file or --pin-env. A suite with a
time step (T) is tested at the current time; provisioning one first sets the card's clock to
this host's (as set-time does).
"""


class ClearProvisionRefused(CommandFailed):
    """The operator named the card's current admin key, but the card says it is blank: sending
    the seed in the clear would hand it to whoever forged that INFO answer."""


def register(sub: Any) -> None:
    card = sub.add_parser("card", help="talk to one card over serial (info, provision, test, ...)",
                          description=__doc__, epilog=EPILOG,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    csub = card.add_subparsers(dest="card_command", metavar="ACTION", required=True)
    _add(csub, "list", _list,
         "list attached cards (USB VID:PID from boards/) and running emulators, then INFO", False)
    _add(csub, "info", _info, "show a card's identity and state", True)
    p = _add(csub, "provision", _provision, "load a secret and an admin key, then confirm", True)
    p.add_argument("--serial-number", required=True, metavar="N")
    p.add_argument("--suite", default=DEFAULT_SUITE, metavar="S")
    keys = p.add_mutually_exclusive_group(required=True)
    keys.add_argument("--key-file", metavar="F", help="the card's OCRA seed as hex text")
    keys.add_argument("--key-stdin", action="store_true", help="read the seed (hex) from stdin")
    _admin_args(p)
    p.add_argument("--current-admin-key-file", metavar="F",
                   help="re-provisioning: the admin key the card holds now (default: the new one)")
    p.add_argument("--pin-len", type=int, default=4)
    p.add_argument("--idle-ms", type=int, default=30000)
    p.add_argument("--response-ms", type=int, default=60000)
    p = _add(csub, "test", _test, "the card's response to a challenge (needs the admin key)",
             True)
    p.add_argument("--challenge", required=True, metavar="Q")
    pins = p.add_mutually_exclusive_group()
    pins.add_argument("--pin", metavar="PIN", help="the PIN (visible to other users: see below)")
    pins.add_argument("--pin-stdin", action="store_true", help="read the PIN from stdin")
    pins.add_argument("--pin-file", metavar="F", help="read the PIN from a file")
    pins.add_argument("--pin-env", metavar="VAR", help="read the PIN from an environment variable")
    p.add_argument("--session-info", metavar="HEX",
                   help="session information (hex), for suites with S")
    _admin_args(p)
    _admin_args(_add(csub, "wipe", _wipe, "erase the card's secret and record", True))
    _admin_args(_add(csub, "lock", _lock, "set the production lock (REPL unreachable)", True))
    _admin_args(_add(csub, "set-time", _set_time,
                     "set the card's clock to this host's (time-based suites need it)", True))


def _add(csub: Any, name: str, func: Callable[[argparse.Namespace], int], text: str,
         port: bool) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = csub.add_parser(name, help=text, description=text, epilog=EPILOG,
                                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    if port:
        p.add_argument("--port", required=True, metavar="P")
        p.add_argument("--timeout", type=seconds, default=3.0, help="seconds per answer")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=func)
    return p


def _admin_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--admin-key-file", metavar="F", help="the card's admin key as hex text")
    p.add_argument("--admin-master-key-file", metavar="F",
                   help="derive the admin key from this master key and the serial number")


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> int:
    print(json.dumps(data, sort_keys=True) if args.json else text)
    return 0


@contextmanager
def _client(args: argparse.Namespace) -> Iterator[CardClient]:
    port = discovery.resolve_port(args.port)
    with CardClient(open_transport(port), timeout=args.timeout) as client:
        yield client


def _admin_key(args: argparse.Namespace, serial_number: str | None,
               file: str | None = None) -> bytes:
    if args.admin_key_file and args.admin_master_key_file:
        raise UsageError("give --admin-key-file or --admin-master-key-file, not both")
    file = file or args.admin_key_file
    if file:
        return read_hex_secret(file=file, what="admin key", min_bytes=16, max_bytes=64)
    if serial_number is None:
        raise NotProvisioned("the card is not provisioned: it has no admin key")
    master = admin_keys.read_master_key(args.admin_master_key_file)
    return admin_keys.derive_admin_key(master, serial_number)


def _authenticated(args: argparse.Namespace, client: CardClient) -> CardInfo:
    info = client.info()
    if not info.provisioned:
        raise NotProvisioned("the card is not provisioned")
    client.authenticate(_admin_key(args, info.serial_number))
    return info


def _check_key_file(args: argparse.Namespace) -> None:
    # A bad key file is reported before anything is sent to the card.
    if args.admin_key_file:
        _admin_key(args, None)


def _info_text(info: CardInfo) -> str:
    rows = [("serial number", info.serial_number or "-"), ("provisioned", info.provisioned),
            ("suite", info.suite or "-"), ("locked", info.locked), ("board", info.board),
            ("firmware", info.firmware), ("free flash", info.free_flash),
            ("battery mV", info.battery_mv)]
    if info.record_error:
        rows.append(("record error", info.record_error))
    # the card's strings are its own words: a hostile card's escapes are shown, not obeyed
    return "\n".join(f"{k:14} {'-' if v is None else printable(v)}" for k, v in rows)


# --- actions ---
def _list(args: argparse.Namespace) -> int:
    found = discovery.list_cards()
    lines = [printable(f"{f.candidate.port}  "
                       + (f"{f.info.serial_number or 'blank'}  {f.info.board}  "
                          f"{f.info.firmware}" if f.info else f"(no answer: {f.error})")
                       + (f"  [{f.candidate.description}]" if f.candidate.emulated else ""))
             for f in found]
    return _emit(args, {"cards": [f.to_json() for f in found]},
                 "\n".join(lines) if lines else "no card found")


def _info(args: argparse.Namespace) -> int:
    with _client(args) as client:
        info = client.info()
    return _emit(args, info.to_json(), _info_text(info))


def _provision(args: argparse.Namespace) -> int:
    seed = read_hex_secret(file=args.key_file, stdin=args.key_stdin, what="seed",
                           min_bytes=16, max_bytes=64)
    suite = _suite(args.suite)
    new_admin = _admin_key(args, args.serial_number)
    _check_record(args, seed, new_admin)
    with _client(args) as client:
        info = client.info()
        if info.provisioned:  # re-provisioning: prove the key the card holds now
            client.authenticate(_admin_key(args, info.serial_number, args.current_admin_key_file))
        elif args.current_admin_key_file:
            raise ClearProvisionRefused(
                "the card says it is blank, but --current-admin-key-file says it holds a key: "
                "refusing to send the seed in the clear (a forged INFO answer?)")
        _load(args, client, suite, seed, new_admin)
    return _emit(args, {"serial_number": args.serial_number, "suite": args.suite,
                        "confirmed": True},
                 f"provisioned {args.serial_number} ({args.suite}); TEST confirmed the seed")


def _suite(text: str) -> Any:
    try:
        return ocra.parse_suite(text)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _check_record(args: argparse.Namespace, seed: bytes, admin: bytes) -> None:
    # The card's own limits (dsc.record), checked before a byte goes out; the message names the
    # field, never its value.
    try:
        rec = record.Record(args.serial_number, args.suite, seed, admin,  # type: ignore[no-untyped-call]
                            args.pin_len, args.idle_ms, args.response_ms)
        rec.check()  # type: ignore[no-untyped-call]
    except record.RecordError as e:
        raise UsageError(f"cannot provision: {e}") from None


def _load(args: argparse.Namespace, client: CardClient, suite: Any, seed: bytes,
          admin: bytes) -> None:
    """PROVISION, then AUTH with the new admin key and a TEST the host checks. A link that fails
    midway leaves the card old or new (it writes atomically); the message says which to expect."""
    try:
        client.provision(args.serial_number, args.suite, seed, admin, pin_len=args.pin_len,
                         idle_ms=args.idle_ms, response_ms=args.response_ms)
    except TransportError as e:
        raise TransportError(f"{e}; the card holds its old record or the new one: check with "
                             "`dsc card info`, then run this command again") from None
    try:
        client.authenticate(admin)
        if suite.time_step:  # a T suite computes with the card's clock: set it first
            client.set_time(int(time.time()))
        confirm_seed(client, suite, seed, pin_len=args.pin_len)
    except TransportError as e:
        raise TransportError(f"{e}; the card took the new seed, not yet confirmed: run this "
                             "command again") from None


def _test(args: argparse.Namespace) -> int:
    _check_key_file(args)
    pin = _pin(args)
    info_s = _hex_arg(args.session_info, "--session-info")
    with _client(args) as client:
        info = client.info()
        if not info.provisioned or info.suite is None:
            raise NotProvisioned("the card is not provisioned")
        suite = _suite(info.suite)
        ts = int(time.time()) // suite.time_step if suite.time_step else None
        _check_test_inputs(suite, args.challenge, pin, ts, info_s)
        client.authenticate(_admin_key(args, info.serial_number))
        response = client.test(args.challenge, pin, timestamp=ts, session_info=info_s)
    data: dict[str, Any] = {"serial_number": info.serial_number, "challenge": args.challenge,
                            "response": response}
    if ts is not None:
        data["timestamp"] = ts
    return _emit(args, data, response)


def _pin(args: argparse.Namespace) -> str | None:
    return pin_from_args(args, prog="dsc card")


def _hex_arg(text: str | None, option: str) -> bytes | None:
    if text is None:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise UsageError(f"{option} takes hex digits") from None


def _check_test_inputs(suite: Any, challenge: str, pin: str | None, ts: int | None,
                       session_info: bytes | None) -> None:
    # The suite's rules (dsc.ocra), checked before AUTH: a clear message instead of the card's
    # bare "rejected a field". OCRA's messages never quote the PIN.
    try:
        ocra.response(suite, b"\x00", challenge, counter=0 if suite.counter else None, pin=pin,
                      session=session_info, timestamp=ts)
    except ValueError as e:
        raise UsageError(f"the card's suite {suite.text}: {e}") from None


def _wipe(args: argparse.Namespace) -> int:
    _check_key_file(args)
    with _client(args) as client:
        info = client.info()
        if info.provisioned:
            client.authenticate(_admin_key(args, info.serial_number))
        elif not info.record_error:
            raise NotProvisioned("the card is blank already")
        client.wipe()
    return _emit(args, {"serial_number": info.serial_number, "wiped": True},
                 f"wiped {printable(info.serial_number or 'the card')}")


def _set_time(args: argparse.Namespace) -> int:
    _check_key_file(args)
    with _client(args) as client:
        info = _authenticated(args, client)
        now = int(time.time())
        before = client.set_time(now)
    drift = None if before is None else before - now
    was = "it was not set" if drift is None else \
        f"it was {abs(drift)} s {'ahead' if drift > 0 else 'behind'}" if drift else "it was right"
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now))
    return _emit(args, {"serial_number": info.serial_number, "time": now, "drift_s": drift},
                 f"set the clock of {info.serial_number} to {when} ({was})")


def _lock(args: argparse.Namespace) -> int:
    _check_key_file(args)
    with _client(args) as client:
        info = _authenticated(args, client)
        client.lock()
    return _emit(args, {"serial_number": info.serial_number, "locked": True},
                 f"locked {printable(info.serial_number)}: the REPL is unreachable from now on")

