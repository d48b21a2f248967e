"""`make demo`, support part: one blank emulated card provisioned into a fresh SQLite registry,
assigned, and a login typed on its keypad verified, end to end, printing each step.

Everything runs in a temporary directory with embedded defaults (a throwaway registry master
key and master admin key), over the emulated card's serial port, as a support desk would.
    python -m host_tools.cli.demo_desk
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from emulator import Emulator
from host_tools import admin_keys
from provisioning import cardlink, provisioner, support, verification
from provisioning.registry import Registry

PIN = "1234"
USER = "alice"


def _say(step: str) -> None:
    print(f"-- {step}", flush=True)


def _typed_login(card: Emulator, challenge: str) -> str:
    card.hold("POWER", 1200)
    print(f"   card: {card.screen_text()!r}  (holder types the PIN {PIN}, OK)")
    card.type(PIN)
    card.press("OK")
    print(f"   card: {card.screen_text()!r}  (holder types the challenge {challenge}, OK)")
    card.type(challenge)
    card.press("OK")
    shown = card.screen_text()
    print(f"   card: {shown!r}")
    return shown.replace(" ", "").strip()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="opendsc-demo-") as tmp:
        d = Path(tmp)
        _say(f"registry: fresh SQLite file {d / 'registry.sqlite3'}")
        reg, _, _ = Registry.init(str(d / "registry.sqlite3"), d / "master.key",
                                  operator="demo")
        admin_keys.new_master_key_file(d / "admin.key")
        master = admin_keys.read_master_key(d / "admin.key")
        with reg, Emulator(serial="pty") as card:
            assert card.serial_url is not None
            screen = card.screen_text() or "off"
            _say(f"a blank emulated card on {card.serial_url} (display: {screen})")
            with cardlink.open_client(card.serial_url) as client:
                done = provisioner.provision_one(reg, client, master,
                                                 admin_keys.derive_admin_key,
                                                 provisioner.Options())
            serial = done.serial_number
            _say(f"provisioned {serial} ({done.suite}); TEST confirmed it and the card is "
                 f"{'LOCKed' if done.locked else 'a development card'} ({done.seconds} s)")
            support.assign(reg, serial, USER, PIN)
            _say(f"assigned {serial} to {USER} with the PIN chosen when ordering")
            ch = verification.issue_challenge(reg, USER)
            _say(f"login screen shows challenge {ch.challenge} (id {ch.id})")
            outcome = verification.verify(reg, USER, ch.id, _typed_login(card, ch.challenge))
            _say(f"verify: {outcome.describe()}")
            _say(f"card {serial} is now {reg.card(serial).status}")
            return 0 if outcome.accepted else 1


if __name__ == "__main__":
    raise SystemExit(main())
