# HMAC (RFC 2104) on top of dsc.hashes, because MicroPython builds have no hmac module (or one
# that needs hashlib objects with copy(), which MicroPython's lack).
#
#   mac.hmac("sha256", key, msg) -> bytes
#   m = mac.HMAC("sha256", key); m.update(part); m.update(part); m.digest()   # one digest only
#   m = mac.new("sha256", key)    # the same interface, the fastest code the platform has
#
# Allocation (HMAC): one pad buffer of one block, XORed in place from ipad to opad and wiped at
# once, and the two hash objects; the message is fed through without being joined. That is what
# a card needs; on CPython the pad loops in Python cost ~16 us per MAC, so there new() hands
# out a StdHMAC, which joins the parts and makes one call to the standard library's one-shot
# hmac.digest (OpenSSL: ~3 us). MicroPython always gets HMAC (its builds have no hmac.digest;
# micropython-lib's hmac module, where installed, is pure Python too). STD_DIGEST is None where
# the fast path is not used.

import sys

from dsc import hashes

STD_DIGEST = None
if sys.implementation.name != "micropython":
    try:
        from hmac import digest as STD_DIGEST  # CPython 3.7+
    except ImportError:
        pass

_IPAD = 0x36
_IPAD_TO_OPAD = 0x36 ^ 0x5C


class HMAC:
    def __init__(self, name: str, key, force_pure: bool = False) -> None:
        bs = hashes.block_size(name)
        if len(key) > bs:
            key = hashes.new(name, key, force_pure).digest()
        n = len(key)
        pad = bytearray(bs)
        for i in range(n):
            pad[i] = key[i] ^ _IPAD
        for i in range(n, bs):
            pad[i] = _IPAD
        self._inner = hashes.new(name, b"", force_pure)
        self._inner.update(pad)
        for i in range(bs):
            pad[i] ^= _IPAD_TO_OPAD
        self._outer = hashes.new(name, b"", force_pure)
        self._outer.update(pad)
        for i in range(bs):  # the hash states keep what they need; no key bytes stay around
            pad[i] = 0

    def update(self, data) -> None:
        self._inner.update(data)

    def digest(self) -> bytes:
        outer = self._outer
        if outer is None:
            raise ValueError("HMAC digest already taken")
        self._outer = None
        outer.update(self._inner.digest())
        return outer.digest()


class StdHMAC:
    # HMAC's interface over the standard library's hmac.digest: the parts are copied (callers
    # reuse scratch buffers between update() calls) and joined once, at digest().
    def __init__(self, name: str, key) -> None:
        self._name = hashes.canonical(name)
        self._key = key
        self._parts = []
        self._done = False

    def update(self, data) -> None:
        self._parts.append(bytes(data))

    def digest(self) -> bytes:
        if self._done:
            raise ValueError("HMAC digest already taken")
        self._done = True
        assert STD_DIGEST is not None
        msg = b"".join(self._parts)
        self._parts = []
        return STD_DIGEST(self._key, msg, self._name)


def new(name: str, key, force_pure: bool = False):
    # StdHMAC where the platform has hmac.digest and pure code is not asked for, else HMAC.
    if STD_DIGEST is not None and not (force_pure or hashes.FORCE_PURE):
        return StdHMAC(name, key)
    return HMAC(name, key, force_pure)


def hmac(name: str, key, msg, force_pure: bool = False) -> bytes:
    m = new(name, key, force_pure)
    m.update(msg)
    return m.digest()


def compare_digest(a, b) -> bool:
    # Constant time in the contents: every byte of a is always looked at, whatever differs.
    # Takes bytes-like objects or ASCII str (a str is compared with a str only).
    if isinstance(a, str) or isinstance(b, str):
        if not (isinstance(a, str) and isinstance(b, str)):
            raise TypeError("compare_digest: cannot compare str with bytes")
        a = a.encode()
        b = b.encode()
    diff = len(a) ^ len(b)
    if diff:
        b = a  # still walk a whole input, so a length mismatch costs the same time
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
