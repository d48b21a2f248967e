"""`dsc ocra`: compute an OCRA (RFC 6287) response on the host, with the card's own code.

    dsc ocra --suite OCRA-1:HOTP-SHA256-8:QN06-PSHA1 --key-file seed.hex --challenge 123456

A developer's calculator: the response comes from `dsc.ocra`, the very module the card runs.
"""

from __future__ import annotations

import argparse
import binascii
import json
from typing import Any

from dsc import ocra

from host_tools.cli.exits import UsageError
from host_tools.cli.options import add_key_options, key_from_args, pin_from_args

_KEY_MAX_BYTES = 1024

HELP = "compute an OCRA (RFC 6287) response with the card's own code"
EPILOG = """\
The key is the card's seed as hex. --key puts it in the command line, where other users of this
machine can read it (ps, /proc) and where shell history keeps it: prefer --key-file, --key-stdin
or --key-env for real seeds. The same holds for --pin: prefer --pin-file or --pin-env. Both
are test conveniences, and a warning on stderr says so when they are used.

Exit status: 0 with the response printed; 2 when an input is wrong (one line on stderr, never
the key or the PIN).
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("ocra", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", required=True, metavar="SUITE",
                   help="OCRA suite, e.g. OCRA-1:HOTP-SHA256-8:QN06-PSHA1")
    add_key_options(p, required=True)
    p.add_argument("--challenge", required=True, metavar="Q",
                   help="the challenge as typed: decimal (QN), text (QA) or hex (QH)")
    pins = p.add_mutually_exclusive_group()
    pins.add_argument("--pin", metavar="PIN",
                      help="the clear PIN, for suites with P (visible to other users: see below)")
    pins.add_argument("--pin-file", metavar="FILE", help="read the clear PIN from FILE")
    pins.add_argument("--pin-env", metavar="VAR",
                      help="read the clear PIN from environment variable VAR")
    p.add_argument("--counter", metavar="N", help="the counter, decimal, for suites with C")
    p.add_argument("--timestamp", metavar="HEX",
                   help="the count of time steps as hex (as in RFC 6287), for suites with T")
    p.add_argument("--session", metavar="HEX",
                   help="the session information as hex, for suites with Snnn")
    p.add_argument("--json", action="store_true", help="print a JSON object instead")
    p.set_defaults(func=run)


def _key(args: argparse.Namespace) -> bytes:
    key = key_from_args(args, min_bytes=1, max_bytes=_KEY_MAX_BYTES, prog="dsc ocra")
    assert key is not None  # the option group is required
    return key


def _pin(args: argparse.Namespace) -> str | None:
    return pin_from_args(args, prog="dsc ocra")


def _int(text: str | None, base: int, what: str) -> int | None:
    if text is None:
        return None
    digits = text.strip()
    if base == 16 and digits[:2].lower() == "0x":
        digits = digits[2:]
    allowed = "0123456789" if base == 10 else "0123456789abcdefABCDEF"
    if not digits or any(c not in allowed for c in digits):
        raise UsageError(f"--{what} must be a {'decimal' if base == 10 else 'hex'} number")
    return int(digits, base)


def _session(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        return binascii.unhexlify("".join(text.split()))
    except (binascii.Error, ValueError):
        raise UsageError("--session must be hex text") from None


# dsc.ocra's messages name the input; on the command line, name the option too.
_OPTIONS = (("counter", "--counter"), ("PIN", "--pin"), ("session", "--session"),
            ("timestamp", "--timestamp"), ("challenge", "--challenge"))


def _with_option(message: str) -> str:
    for word, option in _OPTIONS:
        if word in message:
            return f"{message} ({option})"
    return message


def run(args: argparse.Namespace) -> int:
    try:
        suite = ocra.parse_suite(args.suite)
    except ocra.SuiteError as e:
        raise UsageError(str(e)) from None
    key = _key(args)
    counter = _int(args.counter, 10, "counter")
    timestamp = _int(args.timestamp, 16, "timestamp")
    session = _session(args.session)
    try:
        result: str = ocra.response(suite, key, args.challenge, counter=counter, pin=_pin(args),
                                    session=session, timestamp=timestamp)
    except ocra.OcraError as e:
        raise UsageError(_with_option(str(e))) from None
    if args.json:
        out: dict[str, Any] = {"suite": suite.text, "challenge": args.challenge,
                               "response": result}
        if counter is not None:
            out["counter"] = counter
        if timestamp is not None:
            out["timestamp"] = format(timestamp, "x")
        print(json.dumps(out))
    else:
        print(result)
    return 0
