# The card record: everything a provisioned card keeps in flash, in one small binary file.
#
# Layout (big-endian), see docs/firmware.md:
#   0  "DSCR"      magic
#   4  u8          format version (1)
#   5  u8          flags: bit 0 locked (production lock), bit 1 wiped (erase in progress)
#   6  u8          PIN length
#   7  u8          reserved, 0
#   8  u32         idle auto-off, ms
#   12 u32         response display time, ms
#   16 u64         OCRA counter C (the value the next response uses)
#   24 u8 n, n     serial number (printable ASCII)
#      u8 n, n     OCRA suite (printable ASCII)
#      u8 n, n     secret (the OCRA key)
#      u8 n, n     admin key
#   .. u32         CRC-32 of every byte before it
# A record is written to "record.new" and renamed over "record" (the filesystem's atomic
# replace), so a power cut leaves either the old or the new file.
import struct

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):  # type: ignore[no-redef]
        return x

from dsc.protocol import crc32, printable  # one CRC-32 (with its fallback), one text rule

MAGIC = b"DSCR"
VERSION = const(1)
NAME = "record"
NEW = "record.new"
FILES = (NEW, NAME)  # every file the card keeps in its directory

_F_LOCKED = const(1)
_F_WIPED = const(2)
_HEADER = ">4sBBBBIIQ"
_HEADER_LEN = const(24)

# What a card is provisioned with unless told otherwise (the host's defaults too).
DEFAULT_SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
DEFAULT_PIN_LEN = const(4)
DEFAULT_IDLE_MS = const(30000)
DEFAULT_RESPONSE_MS = const(60000)

PIN_LEN_MIN = const(4)
PIN_LEN_MAX = const(12)
TIME_MIN_MS = const(5000)
TIME_MAX_MS = const(3600000)
_COUNTER_MAX = 0xFFFFFFFFFFFFFFFF
# (field, min, max) lengths; the secret holds an HMAC key of up to a SHA-512 block.
_LIMITS = (("serial", 1, 32), ("suite", 1, 64), ("secret", 1, 64), ("admin_key", 16, 64))


class RecordError(ValueError):
    """The stored record failed its check, or a record's fields are out of range."""


class Record:
    def __init__(self, serial, suite, secret, admin_key, pin_len=DEFAULT_PIN_LEN,
                 idle_ms=DEFAULT_IDLE_MS, response_ms=DEFAULT_RESPONSE_MS, counter=0,
                 locked=False):
        self.serial = serial
        self.suite = suite
        self.secret = bytes(secret)
        self.admin_key = bytes(admin_key)
        self.pin_len = pin_len
        self.idle_ms = idle_ms
        self.response_ms = response_ms
        self.counter = counter
        self.locked = locked

    def copy(self, **changes):
        rec = Record(self.serial, self.suite, self.secret, self.admin_key, self.pin_len,
                     self.idle_ms, self.response_ms, self.counter, self.locked)
        for name in changes:
            setattr(rec, name, changes[name])
        return rec

    def check(self):
        """Raise RecordError naming the first field out of range (never its value)."""
        for name, lo, hi in _LIMITS:
            value = getattr(self, name)
            if isinstance(value, str):
                value = value.encode()
                if not printable(value):
                    raise RecordError(name + ": printable ASCII only")
            if not isinstance(value, bytes) or not lo <= len(value) <= hi:
                raise RecordError("%s: length must be %d..%d" % (name, lo, hi))
        _int_range("pin_len", self.pin_len, PIN_LEN_MIN, PIN_LEN_MAX)
        _int_range("idle_ms", self.idle_ms, TIME_MIN_MS, TIME_MAX_MS)
        _int_range("response_ms", self.response_ms, TIME_MIN_MS, TIME_MAX_MS)
        _int_range("counter", self.counter, 0, _COUNTER_MAX)

    def __repr__(self):  # never shows the secret or the admin key
        return "Record(serial=%r, suite=%r, counter=%d)" % (self.serial, self.suite, self.counter)


def _int_range(name, value, lo, hi):
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise RecordError("%s: must be %d..%d" % (name, lo, hi))


def encode(rec, wiped=False):
    rec.check()
    flags = (_F_LOCKED if rec.locked else 0) | (_F_WIPED if wiped else 0)
    out = bytearray(struct.pack(_HEADER, MAGIC, VERSION, flags, rec.pin_len, 0,
                                rec.idle_ms, rec.response_ms, rec.counter))
    for name, _lo, _hi in _LIMITS:
        value = getattr(rec, name)
        if isinstance(value, str):
            value = value.encode()
        out.append(len(value))
        out.extend(value)
    out.extend(struct.pack(">I", crc32(out)))
    return bytes(out)


def _decode(data):
    """Return (Record, flags); raise RecordError unless data is one whole, valid record."""
    if len(data) < _HEADER_LEN + 4 + 4 or data[:4] != MAGIC:
        raise RecordError("not a card record")
    if struct.unpack(">I", data[-4:])[0] != crc32(data[:-4]):
        raise RecordError("record CRC mismatch")
    _m, version, flags, pin_len, _r, idle_ms, resp_ms, counter = struct.unpack(
        _HEADER, data[:_HEADER_LEN])
    if version != VERSION:
        raise RecordError("record format %d unknown" % version)
    fields = []
    pos = _HEADER_LEN
    end = len(data) - 4
    for _name, _lo, _hi in _LIMITS:
        if pos >= end:
            raise RecordError("record truncated")
        n = data[pos]
        if pos + 1 + n > end:
            raise RecordError("record truncated")
        fields.append(bytes(data[pos + 1:pos + 1 + n]))
        pos += 1 + n
    if pos != end:
        raise RecordError("record has trailing bytes")
    for i in (0, 1):
        if not printable(fields[i]):
            raise RecordError("record text field not ASCII")
    rec = Record(fields[0].decode(), fields[1].decode(), fields[2], fields[3], pin_len,
                 idle_ms, resp_ms, counter, bool(flags & _F_LOCKED))
    rec.check()
    return rec, flags


def decode(data):
    return _decode(data)[0]


def load(hal):
    """The stored record, or None on a blank card; RecordError when it fails its check."""
    data = hal.fs_read(NAME)
    new = hal.fs_read(NEW)
    if new is not None:
        if data is None and _complete(new):
            # A replace cut between "remove record" and "rename" (FAT cannot rename over a
            # file): the new record is whole, so finish the rename.
            hal.fs_rename(NEW, NAME)
            data = new
        else:
            # A save that did not reach its rename: the old record stands.
            hal.fs_remove(NEW)
    if data is None:
        return None
    rec, flags = _decode(data)
    if flags & _F_WIPED:
        # An erase was cut after the secret was overwritten: finish it.
        hal.fs_remove(NAME)
        return None
    return rec


def _complete(data):
    try:
        _decode(data)
        return True
    except RecordError:
        return False


def _replace(hal, data):
    hal.fs_write(NEW, data)
    hal.fs_rename(NEW, NAME)


def save(hal, rec):
    _replace(hal, encode(rec))


def erase(hal):
    """Overwrite the secret and the admin key first, then remove every file of the card."""
    data = hal.fs_read(NAME)
    if data is not None:
        try:
            rec = _decode(data)[0]
        except RecordError:
            rec = None
        if rec is not None:
            blank = rec.copy(secret=bytes(len(rec.secret)), admin_key=bytes(len(rec.admin_key)))
            _replace(hal, encode(blank, wiped=True))
        else:
            # A record we cannot parse may still hold a secret: overwrite all of it.
            _replace(hal, bytes(len(data)))
    else:
        # No record, but record.new may hold one (a FAT replace cut before its rename) or part
        # of one (a save cut part-way): overwrite it too. A cut here leaves a record.new that
        # load() does not adopt (zeros or nothing), so the card comes up blank.
        new = hal.fs_read(NEW)
        if new:
            hal.fs_write(NEW, bytes(len(new)))
    for name in FILES:
        hal.fs_remove(name)
