# Service-protocol frame codec: the one codec, used by the card (dsc.service) and imported by the
# host (host_tools.client) as `dsc.protocol`. Specified in docs/protocol.md.
#
# On the wire a frame is one ASCII line:  "~" + base64(binary frame) + "\n"
# so it never contains the REPL control bytes (Ctrl-A..D) and anything else on the same USB CDC
# (debug prints, a REPL banner) is skipped: a reader only looks at what follows a "~".
# The binary frame, big-endian:
#   version(1) | type(1) | request id(2) | payload length(2) | payload | CRC-32(4)
# The CRC (IEEE 802.3, as binascii.crc32) covers everything before it.
import binascii
import struct

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):  # type: ignore[no-redef]
        return x

VERSION = const(1)
MAX_PAYLOAD = const(512)
HEADER_LEN = const(6)
CRC_LEN = const(4)
# "~" + base64 of the largest frame (522 bytes -> 696 characters); "\r" and "\n" not counted.
MAX_LINE = const(697)

# Commands (host -> card). A response carries the command's type with bit 7 set.
CMD_INFO = const(0x01)
CMD_AUTH_BEGIN = const(0x02)   # AUTH, round trip 1: host nonce -> card nonce + card proof
CMD_AUTH_FINISH = const(0x03)  # AUTH, round trip 2: host proof -> session open
CMD_PROVISION = const(0x04)
CMD_SET_CONFIG = const(0x05)
CMD_TEST = const(0x06)
CMD_WIPE = const(0x07)
CMD_LOCK = const(0x08)
CMD_REBOOT = const(0x09)
CMD_SET_TIME = const(0x0A)     # set the card's real-time clock (time-based suites)
RSP_FLAG = const(0x80)
RSP_ERROR = const(0xFF)

# Error codes (payload tag T_CODE of an RSP_ERROR frame; the deframer reports the ERR_FRAME_*).
ERR_FRAME_BASE64 = const(0x01)   # the line is not canonical base64
ERR_FRAME_LENGTH = const(0x02)   # too short, too long, or length field disagrees with the frame
ERR_FRAME_CRC = const(0x03)
ERR_FRAME_VERSION = const(0x04)  # unknown protocol version
ERR_UNKNOWN_COMMAND = const(0x10)
ERR_BAD_PAYLOAD = const(0x11)    # malformed TLV, a missing, unknown or out-of-range field
ERR_BAD_SUITE = const(0x12)
ERR_BAD_STATE = const(0x13)      # e.g. AUTH_FINISH without AUTH_BEGIN
ERR_AUTH_REQUIRED = const(0x20)
ERR_AUTH_FAILED = const(0x21)
ERR_AUTH_DELAY = const(0x22)     # wrong attempts: wait T_RETRY_MS before the next AUTH
ERR_SESSION = const(0x23)        # bad tag, replayed or reordered sequence number: session closed
ERR_NOT_PROVISIONED = const(0x30)
ERR_RECORD = const(0x31)         # the stored record failed its check
ERR_STORAGE = const(0x32)        # writing flash failed; the old record stays
ERR_INTERNAL = const(0x3F)

SESSION_IDLE_MS = const(120000)  # a session closes after this long without a sealed command

# TLV tags (payload fields). One tag byte, one length byte, the value.
T_CODE = const(0x01)        # error code (1 byte)
T_RETRY_MS = const(0x02)    # milliseconds to wait (4 bytes)
T_SERIAL = const(0x10)      # ASCII serial number
T_FIRMWARE = const(0x11)    # ASCII firmware version
T_BOARD = const(0x12)       # ASCII board name
T_SUITE = const(0x13)       # ASCII OCRA suite
T_PROVISIONED = const(0x14) # 1 byte: 0/1
T_LOCKED = const(0x15)      # 1 byte: 0/1 (production lock)
T_FREE_FLASH = const(0x16)  # 4 bytes, signed (-1: unknown)
T_BATTERY_MV = const(0x17)  # 2 bytes; absent when the board cannot measure it
T_RECORD_ERROR = const(0x18)  # ASCII reason the stored record failed its check
T_PROTOCOL = const(0x19)    # 1 byte: protocol version
T_NONCE = const(0x20)       # 16 bytes
T_PROOF = const(0x21)       # 32 bytes: HMAC-SHA256 proof
T_SECRET = const(0x30)      # OCRA key
T_ADMIN_KEY = const(0x31)
T_PIN_LEN = const(0x32)     # 1 byte
T_IDLE_MS = const(0x33)     # 4 bytes
T_RESPONSE_MS = const(0x34) # 4 bytes
T_COUNTER = const(0x35)     # 8 bytes
T_TIME = const(0x36)        # 8 bytes: seconds since 1970-01-01 00:00 UTC (SET_TIME)
T_CHALLENGE = const(0x40)   # ASCII challenge
T_PIN = const(0x41)         # ASCII PIN
T_TIMESTAMP = const(0x42)   # 8 bytes: time steps (suites with T)
T_SESSION_INFO = const(0x43)  # session information bytes (suites with S)
T_RESPONSE = const(0x44)    # ASCII response digits

_HEADER = ">BBHH"
_B64_OK = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def crc32(data: "bytes | bytearray | memoryview") -> int:
    if _crc32 is not None:
        return _crc32(data) & 0xFFFFFFFF
    crc = 0xFFFFFFFF  # bitwise fallback for builds without binascii.crc32
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


_crc32 = getattr(binascii, "crc32", None)


def printable(data: "bytes | bytearray | memoryview") -> bool:
    """Printable ASCII only (0x20..0x7E): serial numbers, suites and other text fields."""
    for b in data:
        if b < 0x20 or b > 0x7E:
            return False
    return True


def frame_bytes(ftype: int, rid: int, payload: bytes = b"") -> bytes:
    """The binary frame (no line encoding). Raises ValueError on an out-of-range field."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload too long")
    if not (0 <= ftype <= 0xFF and 0 <= rid <= 0xFFFF):
        raise ValueError("bad frame type or request id")
    body = struct.pack(_HEADER, VERSION, ftype, rid, len(payload)) + bytes(payload)
    return body + struct.pack(">I", crc32(body))


def encode(ftype: int, rid: int, payload: bytes = b"") -> bytes:
    """The wire line of one frame: b"~" + base64 + b"\\n"."""
    return b"~" + binascii.b2a_base64(frame_bytes(ftype, rid, payload), newline=False) + b"\n"


def decode_line(line: "bytes | memoryview") -> "tuple[int, int, int, bytes]":
    """Decode one line (without "~" and "\\n"): (0, type, rid, payload) or (ERR_FRAME_*, ...)."""
    text = bytes(line)
    try:
        raw = binascii.a2b_base64(text)
    except Exception:  # binascii.Error (ValueError); the wasm build's binascii raises Exception
        return (ERR_FRAME_BASE64, 0, 0, b"")
    # a2b_base64 skips foreign characters on some builds: accept only the canonical encoding.
    if binascii.b2a_base64(raw, newline=False) != text:
        return (ERR_FRAME_BASE64, 0, 0, b"")
    return decode_frame(raw)


def decode_frame(raw: bytes) -> "tuple[int, int, int, bytes]":
    n = len(raw)
    if n < HEADER_LEN + CRC_LEN:
        return (ERR_FRAME_LENGTH, 0, 0, b"")
    version, ftype, rid, plen = struct.unpack_from(_HEADER, raw, 0)
    if plen > MAX_PAYLOAD or n != HEADER_LEN + plen + CRC_LEN:
        return (ERR_FRAME_LENGTH, 0, 0, b"")
    if struct.unpack_from(">I", raw, n - CRC_LEN)[0] != crc32(memoryview(raw)[:n - CRC_LEN]):
        return (ERR_FRAME_CRC, 0, 0, b"")
    if version != VERSION:
        return (ERR_FRAME_VERSION, 0, 0, b"")
    return (0, ftype, rid, bytes(raw[HEADER_LEN:HEADER_LEN + plen]))


class Deframer:
    """Streaming line decoder: feed() any bytes, get back the frames and framing errors in them.

    Each result is a tuple (err, type, request id, payload); err is 0 for a good frame, else an
    ERR_FRAME_* code (type, request id and payload then 0, 0, b""). Bytes outside a "~" line are
    ignored; a "~" inside a line abandons the partial line (reported as ERR_FRAME_LENGTH) and
    starts a new one, so one lost "\\n" costs one frame only. A line longer than MAX_LINE is
    reported once and skipped up to the next "~". The line buffer is allocated once.
    """

    def __init__(self) -> None:
        self._buf = bytearray(MAX_LINE + 1)
        self._mv = memoryview(self._buf)
        self._len = 0
        self._state = 0  # 0: outside a line, 1: inside a line, 2: skipping an over-long line

    def reset(self) -> None:
        self._len = 0
        self._state = 0

    def feed(self, data: bytes) -> "list[tuple[int, int, int, bytes]]":
        if not isinstance(data, (bytes, bytearray)):
            data = bytes(data)
        out = []
        i = 0
        n = len(data)
        while i < n:
            if self._state != 1:
                j = data.find(b"~", i)
                if j < 0:
                    return out
                self._state = 1
                self._len = 0
                i = j + 1
                continue
            i = self._scan_line(data, i, n, out)
        return out

    def _scan_line(self, data, i, n, out):
        # Inside a line: copy bytes up to "\n" or a fresh "~", whichever comes first.
        end = data.find(b"\n", i)
        tilde = data.find(b"~", i)
        stop = n if end < 0 else end
        if 0 <= tilde < stop:
            stop = tilde
        if not self._append(data, i, stop, out):
            return stop  # now skipping: the next "~" starts a new line
        if stop == n:
            return n
        if stop == tilde:
            out.append((ERR_FRAME_LENGTH, 0, 0, b""))
            self._len = 0
            return tilde + 1  # stays inside the new line
        self._state = 0
        ln = self._len
        if ln and self._buf[ln - 1] == 0x0D:  # tolerate CRLF
            ln -= 1
        out.append(decode_line(self._mv[:ln]))
        return end + 1

    def _append(self, data, i, stop, out):
        k = stop - i
        if self._len + k > MAX_LINE + 1:
            out.append((ERR_FRAME_LENGTH, 0, 0, b""))
            self._state = 2
            self._len = 0
            return False
        self._buf[self._len:self._len + k] = data[i:stop]
        self._len += k
        return True


def tlv_encode(items: "list[tuple[int, bytes | str | int]]") -> bytes:
    """Encode [(tag, value), ...]; values are bytes, str (ASCII) or non-negative ints (1 byte)."""
    out = bytearray()
    for tag, value in items:
        if isinstance(value, str):
            value = value.encode()
        elif isinstance(value, int):
            value = bytes((value,))
        if len(value) > 255:
            raise ValueError("TLV value too long")
        out.append(tag)
        out.append(len(value))
        out.extend(value)
    return bytes(out)


def tlv_decode(payload: bytes, allowed: "tuple[int, ...] | None" = None) -> "dict[int, bytes]":
    """Decode a TLV payload into {tag: bytes}. Raises ValueError on a truncated payload, a
    repeated tag, or (when `allowed` is given) a tag not in it."""
    fields = {}
    i = 0
    n = len(payload)
    while i < n:
        if i + 2 > n:
            raise ValueError("truncated TLV")
        tag = payload[i]
        ln = payload[i + 1]
        if i + 2 + ln > n:
            raise ValueError("truncated TLV")
        if tag in fields or (allowed is not None and tag not in allowed):
            raise ValueError("unexpected TLV tag")
        fields[tag] = bytes(payload[i + 2:i + 2 + ln])
        i += 2 + ln
    return fields


def uint(value: int, size: int) -> bytes:
    """Big-endian unsigned int of `size` bytes (the TLV form of numbers)."""
    return value.to_bytes(size, "big")


def to_uint(raw: bytes, size: int) -> int:
    """Parse a big-endian unsigned field; ValueError when it is not exactly `size` bytes."""
    if len(raw) != size:
        raise ValueError("bad field size")
    return int.from_bytes(raw, "big")


def error_payload(code: int, retry_ms: "int | None" = None) -> bytes:
    items = [(T_CODE, code)]  # type: list[tuple[int, bytes | str | int]]
    if retry_ms is not None:
        items.append((T_RETRY_MS, uint(retry_ms, 4)))
    return tlv_encode(items)
