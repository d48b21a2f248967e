"""`dsc demo` (`make demo`): the main job end to end on embedded defaults, then the card up close.

1. The support desk (`host_tools.cli.demo_desk`): a blank emulated card is provisioned
   over its serial port into a fresh SQLite registry, assigned to a user, and a login typed
   on its keypad is verified by the registry.
2. The card: on a desktop (DISPLAY set, CI not "true") a window opens with a provisioned demo
   card; otherwise a scripted walkthrough prints each screen as text: power on, PIN, challenge,
   response, the response checked by an independent computation with the firmware's OCRA module
   on the host, and the auto-off. Each step is one function, so it reads like the manual.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from typing import Any

from dsc import ocra

from emulator.api import DEFAULT_SUITE, Emulator

PIN = "1234"
SERIAL_NUMBER = "DSC00000001"


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY")) and os.environ.get("CI", "").lower() != "true"


def show(title: str, card: Emulator) -> None:
    lines = card.screen_text().splitlines() or ["(display off)"]
    width = max(16, *(len(line) for line in lines))
    print(f"\n{title}")
    print("  +" + "-" * (width + 2) + "+")
    for line in lines:
        print(f"  | {line.ljust(width)} |")
    print("  +" + "-" * (width + 2) + "+")


def new_card(key: bytes) -> Emulator:
    """A blank virtual board, provisioned over its serial port with the demo key."""
    card = Emulator(key=key, suite=DEFAULT_SUITE, serial_number=SERIAL_NUMBER)
    print(f"card {SERIAL_NUMBER} provisioned with suite {DEFAULT_SUITE} "
          f"(board {card.board.name}, runtime {card.runtime_name})")
    return card


def power_on(card: Emulator) -> None:
    card.hold("POWER", 1500)
    show("1. hold POWER for 1.5 s: the card asks for the PIN", card)


def enter_pin(card: Emulator, pin: str) -> None:
    card.type(pin)
    show(f"2. type the PIN ({len(pin)} digits, masked)", card)
    card.press("OK")
    show("3. OK: the card asks for the login screen's challenge", card)


def enter_challenge(card: Emulator, challenge: str) -> None:
    card.type(challenge)
    show(f"4. type the challenge {challenge}", card)
    card.press("OK")
    show("5. OK: the card shows the response", card)


def read_response(card: Emulator) -> str:
    return card.screen_text().replace(" ", "")


def verify(key: bytes, challenge: str, pin: str, response: str) -> bool:
    expected = ocra.response(DEFAULT_SUITE, key, challenge, pin=pin)
    ok = expected == response
    print(f"\n6. the server computes the response independently: {expected} -> "
          f"{'accepted' if ok else 'REJECTED'}")
    return ok


def auto_off(card: Emulator) -> None:
    card.advance(61000)
    show("7. a minute later the card has turned itself off", card)


def walkthrough() -> int:
    key = secrets.token_bytes(32)
    challenge = f"{secrets.randbelow(10**6):06d}"
    with new_card(key) as card:
        power_on(card)
        enter_pin(card, PIN)
        enter_challenge(card, challenge)
        ok = verify(key, challenge, PIN, read_response(card))
        auto_off(card)
    return 0 if ok else 1


def window() -> int:
    from emulator.window import CardWindow

    key = secrets.token_bytes(32)
    challenge = "123456"
    expected = ocra.response(DEFAULT_SUITE, key, challenge, pin=PIN)
    with new_card(key) as card:
        print("Hold Space (or click POWER) for 1.5 s, type the PIN, Enter, the challenge, Enter.")
        print(f"With PIN {PIN} and challenge {challenge} the card answers "
              f"{expected[:4]} {expected[4:]}.")
        CardWindow(card, title="OpenDSC demo card").run()
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="the support desk's job and the card up close, on an "
                                    "emulated card", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=lambda args: main())


def main() -> int:
    from host_tools.cli import demo_desk as support_demo

    print("== the support desk: provision, assign, verify a login ==")
    if support_demo.main() != 0:
        return 1
    print("\n== the card up close ==")
    if has_display():
        try:
            return window()
        except Exception as e:  # tkinter.TclError: the display cannot be reached
            print(f"cannot open a window ({e}); showing the walkthrough instead")
    return walkthrough()


if __name__ == "__main__":
    sys.exit(main())
