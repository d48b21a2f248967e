"""Shared helpers of the emulator tests (plain functions; pytest fixtures live in the tests)."""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Any

from mpvm import load_vectors  # tests/mpvm.py: the one loader of tests/vectors

from emulator import Emulator

RUNTIMES = ("cpython", "micropython")
PIN_SUITE = "OCRA-1:HOTP-SHA256-8:QN08-PSHA1"
COUNTER_SUITE = "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1"


def vectors(suite: str) -> list[dict[str, Any]]:
    found = [v for v in load_vectors("rfc6287.json")["vectors"] if v["suite"] == suite]
    assert found, f"no published vectors for {suite}"
    return found


def login(card: Emulator, pin: str | None, challenge: str) -> str:
    """Power on, PIN (when the suite takes one), challenge: return the response digits."""
    card.hold("POWER", 1500)
    if pin is not None:
        assert card.screen_text() == "PIN>"
        card.type(pin)
        card.press("OK")
    assert card.screen_text().startswith("CHALLNG>"), card.screen_text()
    card.type(challenge)
    card.press("OK")
    shown = card.screen_text()
    digits = shown.replace(" ", "")
    assert digits.isdigit(), f"no response on the screen: {shown!r}"
    return digits


def ocra_qn_psha1(key: bytes, digits: int, challenge: str, pin: str, hash_name: str = "sha256",
                  counter: int | None = None) -> str:
    """An independent RFC 6287 computation for OCRA-1:HOTP-<H>-<d>:[C-]QNxx-PSHA1."""
    suite = f"OCRA-1:HOTP-{hash_name.upper()}-{digits}:{'C-' if counter is not None else ''}" \
            f"QN{len(challenge):02d}-PSHA1"
    q = f"{int(challenge):X}"
    q_bytes = bytes.fromhex((q + "0" * (256 - len(q)))[:256])
    msg = suite.encode() + b"\0"
    if counter is not None:
        msg += struct.pack(">Q", counter)
    msg += q_bytes + hashlib.sha1(pin.encode()).digest()
    mac = hmac.new(key, msg, hash_name).digest()
    off = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return str(code % 10 ** digits).zfill(digits)
