"""An independent OCRA (RFC 6287) on the standard library's hmac/hashlib, for the tests only.

Written from the RFC's reference code (section 7 / appendix A), not from dsc.ocra: the data input
is built as the RFC's Java code builds it, as one hex string, and decoded at the end.
"""

from __future__ import annotations

import hashlib
import hmac
import re

SUITE_RE = re.compile(
    r"^OCRA-1:HOTP-(SHA1|SHA256|SHA512)-(0|[4-9]|10):"
    r"(C-)?Q([NAH])(0[4-9]|[1-5][0-9]|6[0-4])"
    r"(-P(SHA1|SHA256|SHA512))?(-S([0-9]{3}))?(-T([1-9][0-9]?)([SMH]))?$"
)


def reference_response(suite: str, key: bytes, challenge: str, *, counter: int | None = None,
                       pin: str | None = None, session: bytes | None = None,
                       timestamp: int | None = None) -> str:
    m = SUITE_RE.match(suite)
    assert m, suite
    hash_name, digits_text, c, q_fmt = m.group(1), m.group(2), m.group(3), m.group(4)
    p_hash = m.group(7)
    hex_msg = suite.encode().hex() + "00"
    if c:
        assert counter is not None
        hex_msg += f"{counter:016x}"
    if q_fmt == "N":
        q = f"{int(challenge):X}"
    elif q_fmt == "A":
        q = challenge.encode("ascii").hex()
    else:
        q = challenge
    hex_msg += q.ljust(256, "0")
    if p_hash:
        assert pin is not None
        hex_msg += hashlib.new(p_hash.lower(), pin.encode()).hexdigest()
    if m.group(8):
        assert session is not None and len(session) == int(m.group(9))
        hex_msg += session.hex()
    if m.group(10):
        assert timestamp is not None
        hex_msg += f"{timestamp:016x}"
    mac = hmac.new(key, bytes.fromhex(hex_msg), hash_name.lower()).digest()
    digits = int(digits_text)
    if digits == 0:
        return mac.hex()
    offset = mac[-1] & 0xF
    code = int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)
