"""End to end: the support CLI against blank emulated cards over their serial ports.

Provision a batch, assign, log in with responses typed on the virtual keypad, wrong PIN,
replay, expiry, lockout and unlock, PIN change, temporary access and reactivation, lost and
replacement, PSKC round trip into a second registry, audit check, wipe for reuse.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deskkit import Desk

from emulator import Emulator
from host_tools.client import CardClient
from host_tools.transport import open_transport

pytestmark = pytest.mark.slow


def typed_response(card: Emulator, pin: str, challenge: str) -> str:
    """What the holder does: hold POWER, PIN, OK, challenge, OK, read the screen."""
    card.hold("POWER", 1200)
    assert "PIN" in card.screen_text()
    card.type(pin)
    card.press("OK")
    card.type(challenge)
    card.press("OK")
    text = card.screen_text().replace(" ", "").strip()
    card.hold("POWER", 100)  # short press: off
    assert text.isdigit() and len(text) == 8, text
    return text


@pytest.fixture
def cards() -> Iterator[list[Emulator]]:
    emus = [Emulator(serial="pty"), Emulator(serial="pty")]
    try:
        yield emus
    finally:
        for e in emus:
            e.close()


def login(desk: Desk, card: Emulator, user: str, pin: str) -> tuple[int, dict[str, Any]]:
    ch = desk.json("challenge", user)
    resp = typed_response(card, pin, ch["challenge"])
    code, out, _ = desk.run("verify", user, ch["id"], resp, "--json")
    return code, json.loads(out)


def test_support_desk_end_to_end(monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                 cards: list[Emulator]) -> None:
    desk = Desk(monkeypatch, capsys, tmp_path, init=False).with_admin_key()
    assert desk.json("registry", "init")["key_created"] is True
    ports = [c.serial_url for c in cards]
    assert all(ports)
    batch = desk.json("provision", "--port", ports[0], "--port", ports[1], "--batch", "e2e")
    first, second = (c["serial_number"] for c in batch["cards"])
    assert (first, second) == ("DSC00000001", "DSC00000002")
    # the cards left LOCKed, and INFO says so
    for card in cards:
        with CardClient(open_transport(card.serial_url)) as client:
            assert client.info().locked
    assert desk.json("show", first)["development"] is False
    # running again over the same ports: both already done, which settles them
    code, out, err = desk.run("provision", "--port", ports[0], "--port", ports[1],
                              "--wait", "0")
    assert code == 0 and "already done" in err and "0 of 2 cards provisioned, 2 already done" \
        in out
    # asking for a new card where there is none waits, then fails
    code, _, err = desk.run("provision", "--port", ports[0], "--count", "1", "--wait", "0")
    assert code == 1 and "already done" in err and "no new card" in err

    assert desk.json("assign", first, "alice", "--pin-stdin", stdin="1234\n")["status"] == \
        "assigned"
    code, out = login(desk, cards[0], "alice", "1234")
    assert code == 0 and out["accepted"] and out["method"] == "card"
    assert desk.json("show", first)["status"] == "active"

    # replay and wrong PIN
    ch = desk.json("challenge", "alice")
    resp = typed_response(cards[0], "9999", ch["challenge"])
    code, out, _ = desk.run("verify", "alice", ch["id"], resp)
    assert code == 1 and "rejected: wrong" in out
    code, out, _ = desk.run("verify", "alice", ch["id"], resp)
    assert code == 1 and "already used" in out

    # lockout and unlock (limit lowered to keep the test short)
    desk.json("registry", "config", "max_failures", "3")
    for _ in range(2):
        ch = desk.json("challenge", "alice")
        desk.run("verify", "alice", ch["id"], "00000000")
    assert desk.json("show", "alice")["status"] == "locked"
    code, out = login(desk, cards[0], "alice", "1234")
    assert code == 1 and out["reason"] == "locked"
    assert desk.json("unlock", "alice")["was_locked"] is True

    # expiry
    desk.json("registry", "config", "challenge_ttl", "1")
    ch = desk.json("challenge", "alice")
    time.sleep(1.1)
    code, out, _ = desk.run("verify", "alice", ch["id"], "12345678")
    assert code == 1 and "expired" in out
    desk.json("registry", "config", "challenge_ttl", "300")

    # PIN change: the new PIN typed on the card
    ch = desk.json("challenge", "alice")
    resp = typed_response(cards[0], "4321", ch["challenge"])
    desk.json("change-pin", "alice", ch["id"], "-", "--new-pin-stdin", stdin=f"{resp}\n4321\n")

    # card at home: temporary passcode and security card, then reactivation
    code_ = desk.json("temp-passcode", "alice")["passcode"]
    ch = desk.json("challenge", "alice")
    out = desk.json("verify", "alice", ch["id"], "-", stdin=code_ + "\n")
    assert (out["method"], out["access"]) == ("passcode", "full")
    png = tmp_path / "grid.png"
    assert desk.json("security-card", "alice", "--out", str(png))["status"] == "temporary access"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ch = desk.json("challenge", "alice")
    assert ch["cells"]
    resp = typed_response(cards[0], "4321", ch["challenge"])
    assert desk.json("reactivate", "alice", ch["id"], resp)["status"] == "active"
    assert desk.json("show", "alice")["temporary_access"] == []

    # lost: the second card replaces it
    desk.json("lost", first)
    assert desk.json("replace", first, second)["users"] == ["alice"]
    code, out = login(desk, cards[1], "alice", "4321")
    assert code == 0 and out["serial_number"] == second

    # PSKC round trip into another registry, then a login there
    pskc = tmp_path / "cards.pskcxml"
    code, _, err = desk.run("pskc", "export", "--out", str(pskc), second, "--password-stdin",
                            stdin="s3cret pass\n")
    assert code == 2 and "too weak" in err and not pskc.exists()
    exported = desk.json("pskc", "export", "--out", str(pskc), second, "--password-stdin",
                         stdin="s3cret pass for the transfer\n")
    assert exported["cards"] == [{"serial_number": second}]
    monkeypatch.setenv("DSC_DB", str(tmp_path / "other.sqlite3"))
    desk.json("registry", "init")
    assert desk.json("pskc", "import", str(pskc), "--password-stdin",
                     stdin="s3cret pass for the transfer\n")["cards"][0]["status"] == \
        "provisioned"
    desk.json("assign", second, "bob", "--pin-stdin", stdin="8642\n")
    code, out = login(desk, cards[1], "bob", "8642")
    assert code == 0 and out["accepted"]
    monkeypatch.setenv("DSC_DB", str(tmp_path / "registry.sqlite3"))

    # the lost card comes back: returned, wiped for reuse
    desk.json("return", first)
    assert desk.json("wipe", first, "--port", ports[0])["status"] == "wiped"
    with CardClient(open_transport(ports[0])) as client:
        assert client.info().provisioned is False

    audit = desk.json("audit", "--verify")
    assert audit["status"] == "intact" and audit["entries"] > 30
    entries = desk.json("audit", "--limit", "500")["entries"]
    # hashes and challenge ids are hex: leave them out before looking for a PIN in the text
    text = json.dumps([{**e, "hash": "", "detail": {k: v for k, v in e["detail"].items()
                                                    if k != "challenge"}} for e in entries])
    assert "4321" not in text and code_ not in text and "s3cret" not in text
    assert {e["operator"] for e in entries} == {"desk"}


def test_demo_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    from host_tools.cli import demo_desk as demo

    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "provisioned DSC00000001" in out and "verify: accepted: alice by card" in out
