"""`make demo-web`: `dsc serve` on a fresh registry in a temporary directory, with two emulated
OpenDSC cards (the operator's and the holder's), an admin operator and a holder locked after 10
wrong responses. Prints the console's and the portal's URLs.

The cards are typed through the emulator API: type `op CHALLENGE` or `holder CHALLENGE` on
this terminal and the demo holds POWER, types the PIN, OK, the challenge, OK on that card and
prints what its screen shows. Runs until Ctrl-C (or `--seconds N`, for tests).
"""

from __future__ import annotations

import argparse
import secrets
import select
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from emulator import Emulator
from host_tools.web.app import Settings, create_app
from provisioning import operators, support, verification
from provisioning.registry import Registry

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"


def _card(reg: Registry, user: str, pin: str) -> Emulator:
    serial = reg.allocate_serial(SUITE, pin_len=4)
    seed = secrets.token_bytes(32)
    card = Emulator(key=seed, suite=SUITE, serial_number=serial)
    reg.confirm_provisioned(serial, seed=seed, admin_key=secrets.token_bytes(32), suite=SUITE,
                            pin_len=4)
    support.assign(reg, serial, user, pin)
    support.activate(reg, serial)
    return card


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make demo-web", description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8090)
    ap.add_argument("--seconds", type=float, default=None, help="stop after this long")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="dsc-demo-web-"))
    url, key = str(tmp / "registry.sqlite3"), tmp / "master.key"
    reg, _, _ = Registry.init(url, key, operator="demo")
    cards = {"op": (_card(reg, "op-ann", "4321"), "4321"),
             "holder": (_card(reg, "alice", "1234"), "1234")}
    password = secrets.token_urlsafe(12)
    operators.add(reg, "ann", operators.ADMIN, password, "op-ann")
    for _ in range(reg.policy.max_failures):
        ch = verification.issue_challenge(reg, "alice")
        verification.verify(reg, "alice", ch.id, "00000000")
    reg.close()
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(url, key)), host="127.0.0.1",
                                           port=args.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    base = f"http://127.0.0.1:{args.port}"
    print(f"console: {base}/console   (operator ann, password {password} — a throwaway demo "
          f"registry in {tmp}; card PIN 4321)")
    print(f"portal:  {base}/portal    (holder alice, PIN 1234; locked after 10 wrong responses)")
    print("type `op CHALLENGE` or `holder CHALLENGE` to have that emulated card answer; Ctrl-C "
          "stops", flush=True)
    end = None if args.seconds is None else time.monotonic() + args.seconds
    try:
        while end is None or time.monotonic() < end:
            ready, _, _ = select.select([sys.stdin], [], [], 0.2)
            if not ready:
                continue
            line = sys.stdin.readline()
            if not line:
                if end is None:
                    break
                time.sleep(0.2)
                continue
            who, _, challenge = line.strip().partition(" ")
            if who in cards and challenge.isdigit():
                card, pin = cards[who]
                print(f"{who} card shows: {card.respond(pin, challenge)}", flush=True)
            else:
                print("type `op CHALLENGE` or `holder CHALLENGE`", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(5)
        for card, _ in cards.values():
            card.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
