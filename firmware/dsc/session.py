# AUTH and the session crypto of the service protocol (docs/protocol.md, "AUTH and sessions").
# The card and the host both use this file (the host imports it as dsc.session).
#
# AUTH: mutual HMAC-SHA256 challenge-response under the card's admin key K with a 16-byte nonce
# from each side (Nh from the host; Nc from the card: 12 TRNG bytes and its persisted count of AUTH
# attempts, so it never repeats even if the TRNG does):
#   card proof = HMAC(K, "DSC1 card proof" | Nh | Nc | serial)
#   host proof = HMAC(K, "DSC1 host proof" | Nh | Nc | serial)
# Session keys: HKDF-SHA256 (RFC 5869) with salt Nh | Nc and input keying material K; four 32-byte
# keys, one encryption and one MAC key per direction.
# A sealed payload is  seq(4) | ciphertext | tag(16):
#   ciphertext = plaintext XOR (HMAC(Kenc, seq | 0) | HMAC(Kenc, seq | 1) | ...)   (4-byte BE)
#   tag = HMAC(Kmac, version | type | request id | seq | ciphertext)[:16]   (encrypt-then-MAC)
# The card accepts a host sequence number only if it is above every one it accepted before, and
# answers with the same number under its own keys, so replayed or reordered frames are refused.
import struct

from dsc.mac import compare_digest as _compare_digest
from dsc.mac import hmac

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):  # type: ignore[no-redef]
        return x

NONCE_LEN = const(16)
NONCE_RANDOM = const(12)  # of the card's nonce; the other 4 bytes count AUTH attempts
PROOF_LEN = const(32)
TAG_LEN = const(16)
SEQ_LEN = const(4)
MAX_SEQ = const(0xFFFFFFFF)
_BLOCK = const(32)

FAIL_FILE = "authfail"
FAIL_NEW = "authfail.new"
BASE_DELAY_MS = const(1000)
MAX_DELAY_MS = const(3600000)


class SessionError(Exception):
    """A sealed payload failed its check (tag, sequence number or size). Deliberately vague."""


def compare_digest(a: bytes, b: bytes) -> bool:
    return _compare_digest(a, b)


def _mac(key: bytes, msg: bytes) -> bytes:
    return hmac("sha256", key, msg)


def _transcript(label, nh, nc, serial):
    if len(nh) != NONCE_LEN or len(nc) != NONCE_LEN:
        raise ValueError("bad nonce size")
    if isinstance(serial, str):
        serial = serial.encode()
    return label + bytes(nh) + bytes(nc) + serial


def card_proof(admin_key: bytes, nh: bytes, nc: bytes, serial: str) -> bytes:
    return _mac(admin_key, _transcript(b"DSC1 card proof", nh, nc, serial))


def host_proof(admin_key: bytes, nh: bytes, nc: bytes, serial: str) -> bytes:
    return _mac(admin_key, _transcript(b"DSC1 host proof", nh, nc, serial))


def derive_keys(admin_key: bytes, nh: bytes, nc: bytes, serial: str) -> "list[bytes]":
    """HKDF-SHA256: [enc host->card, mac host->card, enc card->host, mac card->host]."""
    prk = _mac(bytes(nh) + bytes(nc), admin_key)
    info = _transcript(b"DSC1 session keys", nh, nc, serial)
    keys = []
    t = b""
    for i in range(1, 5):
        t = _mac(prk, t + info + bytes((i,)))
        keys.append(t)
    return keys


def _keystream_xor(key, seq, data):
    out = bytearray(data)
    block = 0
    for off in range(0, len(out), _BLOCK):
        ks = _mac(key, struct.pack(">II", seq, block))
        for j in range(min(_BLOCK, len(out) - off)):
            out[off + j] ^= ks[j]
        block += 1
    return bytes(out)


def _tag(key, version, ftype, rid, seq, ct):
    return _mac(key, struct.pack(">BBHI", version, ftype, rid, seq) + ct)[:TAG_LEN]


def seal(enc_key: bytes, mac_key: bytes, version: int, ftype: int, rid: int, seq: int,
         plaintext: bytes) -> bytes:
    ct = _keystream_xor(enc_key, seq, plaintext)
    return struct.pack(">I", seq) + ct + _tag(mac_key, version, ftype, rid, seq, ct)


def unseal(enc_key: bytes, mac_key: bytes, version: int, ftype: int, rid: int,
           payload: bytes) -> "tuple[int, bytes]":
    """(seq, plaintext) of a sealed payload; SessionError when the tag does not match."""
    if len(payload) < SEQ_LEN + TAG_LEN:
        raise SessionError("sealed payload too short")
    seq = struct.unpack_from(">I", payload, 0)[0]
    ct = bytes(payload[SEQ_LEN:len(payload) - TAG_LEN])
    if not compare_digest(_tag(mac_key, version, ftype, rid, seq, ct), payload[-TAG_LEN:]):
        raise SessionError("bad tag")
    return seq, _keystream_xor(enc_key, seq, ct)


class Session:
    """One side of an open session. `card=True` on the card, False on the host."""

    def __init__(self, admin_key: bytes, nh: bytes, nc: bytes, serial: str, card: bool,
                 version: int = 1) -> None:
        k = derive_keys(admin_key, nh, nc, serial)
        if card:
            self._rx = (k[0], k[1])
            self._tx = (k[2], k[3])
        else:
            self._rx = (k[2], k[3])
            self._tx = (k[0], k[1])
        self._card = card
        self._version = version
        self.seq = 0  # card: highest accepted host number; host: last number sent

    def next_seq(self) -> int:
        # Host side: a fresh number for each request (a retry is a new request).
        if self.seq >= MAX_SEQ:
            raise SessionError("sequence numbers exhausted")
        self.seq += 1
        return self.seq

    def seal(self, ftype: int, rid: int, seq: int, plaintext: bytes) -> bytes:
        return seal(self._tx[0], self._tx[1], self._version, ftype, rid, seq, plaintext)

    def open(self, ftype: int, rid: int, payload: bytes) -> "tuple[int, bytes]":
        """Check and decrypt an incoming sealed payload: (seq, plaintext) or SessionError."""
        seq, plaintext = unseal(self._rx[0], self._rx[1], self._version, ftype, rid, payload)
        if self._card:
            if seq <= self.seq:
                raise SessionError("replayed or reordered")
            self.seq = seq
        elif seq != self.seq:
            raise SessionError("response to another request")
        return seq, plaintext


def card_nonce(random: bytes, attempts: int) -> bytes:
    """The card's AUTH nonce Nc: NONCE_RANDOM bytes from the TRNG, then the count of AUTH_FINISH
    attempts checked so far (4 bytes). The count is persisted before every check, so the Nc of an
    accepted AUTH never comes back, even from a TRNG that repeats itself after a boot."""
    if len(random) != NONCE_RANDOM:
        raise ValueError("bad nonce size")
    return bytes(random) + struct.pack(">I", attempts & MAX_SEQ)


def delay_ms(failures: int) -> int:
    """Wait imposed before the next AUTH after `failures` wrong attempts in a row."""
    if failures <= 0:
        return 0
    if failures > 22:
        return MAX_DELAY_MS
    return min(BASE_DELAY_MS << (failures - 1), MAX_DELAY_MS)


class Throttle:
    """Counts AUTH attempts in the file FAIL_FILE and spaces wrong ones out exponentially.

    The file holds two ASCII numbers, "failures attempts": wrong proofs in a row (for the wait)
    and every AUTH_FINISH the card ever checked (for its nonces, card_nonce). Both are written
    *before* a proof is checked (charge), and the failures are cleared only after a good one, so
    cutting the power to hide a failure does not reset them. After a reboot the card cannot know
    how long it was off, so the wait restarts at boot. The wait is kept as a start and a length
    (never as an end in ticks: ticks + delay may pass TICKS_MAX, which time.ticks_diff on a
    32-bit board cannot take).

    The file is replaced as the record is: written whole to FAIL_NEW, then renamed over
    FAIL_FILE. FAT cannot rename over a file, so there the HAL removes FAIL_FILE first; a cut
    between the two leaves only FAIL_NEW, whole, which _load adopts (as dsc.record.load does).
    Without that, such a cut reset both counts to zero: no wait, and nonces counted again.
    """

    def __init__(self, hal):
        self._hal = hal
        self.failures, self.attempts = self._load()
        self._since = hal.ticks_ms()
        self._delay = delay_ms(self.failures)

    def _load(self):
        hal = self._hal
        raw = hal.fs_read(FAIL_FILE)
        new = hal.fs_read(FAIL_NEW)
        if new is not None:
            if raw is None:
                # FAIL_NEW without FAIL_FILE: either a FAT replace cut between "remove" and
                # "rename" (FAIL_NEW is whole: the counts to keep) or the card's very first
                # save cut part-way (the counts were 0 0; a cut write keeps a prefix of the
                # digits, never more than was being written). Either way: adopt what it says.
                counts = _parse(new)
                if counts is None:
                    hal.fs_remove(FAIL_NEW)  # nothing was ever counted
                    return 0, 0
                hal.fs_rename(FAIL_NEW, FAIL_FILE)
                return counts
            hal.fs_remove(FAIL_NEW)  # a save that did not reach its rename: FAIL_FILE stands
        if raw is None:
            return 0, 0
        counts = _parse(raw)
        if counts is None:
            return 23, 0  # unreadable: assume the worst (the longest wait)
        return counts

    def wait_ms(self):
        if self._delay:
            elapsed = self._hal.ticks_diff(self._hal.ticks_ms(), self._since)
            if 0 <= elapsed < self._delay:
                return self._delay - elapsed
            self._delay = 0  # over (elapsed < 0: more than half a ticks period went by)
        return 0

    def _save(self):
        self._hal.fs_write(FAIL_NEW, ("%d %d" % (self.failures, self.attempts)).encode())
        self._hal.fs_rename(FAIL_NEW, FAIL_FILE)

    def charge(self):
        """Count an attempt before checking it (persisted; raises OSError if flash fails)."""
        self.failures += 1
        self.attempts = (self.attempts + 1) & MAX_SEQ
        self._save()
        self._since = self._hal.ticks_ms()
        self._delay = delay_ms(self.failures)

    def clear(self):
        if self.failures:
            self.failures = 0
            self._save()
        self._delay = 0


def _parse(raw):
    """(failures, attempts) of the file's "failures attempts" (or the older "failures"), or None
    when it says neither."""
    try:
        parts = bytes(raw).decode().split()
        failures = int(parts[0])
        attempts = int(parts[1]) if len(parts) == 2 else failures  # the older "failures"
        if failures < 0 or attempts < 0 or len(parts) > 2:
            return None
        return failures, attempts & MAX_SEQ
    except (ValueError, UnicodeError, IndexError):
        return None
