# RFC 6287 OCRA: suite parser and response, shared by the card and the host (which imports this
# very file as dsc.ocra).
#
#   suite = parse_suite("OCRA-1:HOTP-SHA256-8:QN06-PSHA1")
#   response(suite, key, "123456", pin="1234")            -> "12345678"
#   verify(suite, key, "123456", "12345678", pin="1234")  -> True
#
# Suite grammar (RFC 6287 section 6):
#   OCRA-1:HOTP-{SHA1,SHA256,SHA512}-{0,4..10}:[C-]Q{N,A,H}{04..64}[-P{SHA1,SHA256,SHA512}][-Snnn][-T{n}{S,M,H}]
# The data input is hashed with its exact suite text, so only the canonical spelling parses.
#
# Message (section 5.1): suite text | 0x00 | [C: 8 bytes] | Q: 128 bytes | [P: hash of the PIN]
# | [S: nnn bytes] | [T: 8 bytes]. Q: QN is the decimal challenge turned into hex digits, QH the
# hex digits as given, both left-aligned and zero-padded to 128 bytes (an odd last digit fills
# the high nibble); QA is the ASCII text, zero-padded.
#
# Errors: SuiteError for a bad suite, OcraError for bad inputs; no message ever contains the
# key or the PIN.

import binascii

from dsc import hashes, mac

_HASHES = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
_DIGITS = ("0", "4", "5", "6", "7", "8", "9", "10")
# time step unit -> (seconds, smallest n, largest n); RFC 6287 allows T0H, which gives no time
# step at all, so hours start at 1 here.
_UNITS = {"S": (1, 1, 59), "M": (60, 1, 59), "H": (3600, 1, 48)}
_MAX64 = 0xFFFFFFFFFFFFFFFF
_Q_BYTES = 128
_MIN_Q = 4

# Scratch buffers reused by every response (the firmware is single-threaded).
_QBUF = bytearray(_Q_BYTES)
_B8 = bytearray(8)
_ZERO = b"\x00"
_BYTES = (bytes, bytearray)
_KEY_TYPES = (bytes, bytearray, memoryview)


class SuiteError(ValueError):
    """The OCRA suite text is malformed or not supported."""


class OcraError(ValueError):
    """An input to the OCRA computation is missing, superfluous or malformed."""


class Suite:
    # text: the suite as given; hash: 'SHA1'|'SHA256'|'SHA512'; digits: 0 (full HMAC, hex) or
    # 4..10; counter: bool; q_fmt: 'N'|'A'|'H'; q_len: 4..64; pin_hash: None|'SHA1'|..;
    # session_len: bytes of session information (0: none); time_step: seconds (0: no T).

    def __init__(self, text: str, hash: str, digits: int, counter: bool, q_fmt: str,
                 q_len: int, pin_hash: "str | None" = None, session_len: int = 0,
                 time_step: int = 0) -> None:
        self.text = text
        self.hash = hash
        self.digits = digits
        self.counter = counter
        self.q_fmt = q_fmt
        self.q_len = q_len
        self.pin_hash = pin_hash
        self.session_len = session_len
        self.time_step = time_step
        self.raw = text.encode()  # what goes into the message
        self.hash_name = _HASHES[hash]
        self.pin_hash_name = None
        self.pin_hash_len = 0
        if pin_hash:
            self.pin_hash_name = _HASHES[pin_hash]
            self.pin_hash_len = hashes.digest_size(_HASHES[pin_hash])

    def __repr__(self):
        return "Suite(%r)" % (self.text,)

    def __eq__(self, other):
        return isinstance(other, Suite) and other.text == self.text

    def __hash__(self):
        return hash(self.text)


def _bad(text, why):
    return SuiteError("bad OCRA suite %r: %s" % (text, why))


def _number(s, lo, hi):
    # A decimal number lo..hi in canonical form, else None.
    if not s or not s.isdigit() or (len(s) > 1 and s[0] == "0"):
        return None
    n = int(s)
    return n if lo <= n <= hi else None


def parse_suite(text: "str | bytes | Suite") -> Suite:
    if isinstance(text, Suite):
        return text
    if isinstance(text, _BYTES):
        try:
            text = bytes(text).decode()
        except UnicodeError:
            raise SuiteError("bad OCRA suite: not ASCII text")
    if not isinstance(text, str):
        raise SuiteError("an OCRA suite is text, not %s" % type(text).__name__)
    if len(text.encode()) != len(text):
        raise SuiteError("bad OCRA suite: not ASCII text")
    parts = text.split(":")
    if len(parts) != 3:
        raise _bad(text, "expected three parts OCRA-1:HOTP-<hash>-<digits>:<data input>")
    if parts[0] != "OCRA-1":
        raise _bad(text, "unsupported version %r (only OCRA-1)" % parts[0])
    # CryptoFunction: HOTP-SHAx-t
    crypto = parts[1].split("-")
    if len(crypto) != 3 or crypto[0] != "HOTP":
        raise _bad(text, "the crypto function must be HOTP-<hash>-<digits>")
    if crypto[1] not in _HASHES:
        raise _bad(text, "unsupported hash %r (use SHA1, SHA256 or SHA512)" % crypto[1])
    if crypto[2] not in _DIGITS:
        raise _bad(text, "digits must be 0 or 4 to 10, not %r" % crypto[2])
    digits = int(crypto[2])
    # DataInput: [C-]QFxx[-PH][-Snnn][-TG], in this order
    items = parts[2].split("-")
    i = 0
    counter = False
    if items[0] == "C":
        counter = True
        i = 1
    if i >= len(items) or not items[i].startswith("Q"):
        raise _bad(text, "the data input needs a challenge QN, QA or QH with a length 04..64")
    q = items[i]
    if len(q) != 4 or q[1] not in "NAH" or not q[2:].isdigit():
        raise _bad(text, "bad challenge %r (QN, QA or QH and a two-digit length 04..64)" % q)
    q_len = int(q[2:])
    if not 4 <= q_len <= 64:
        raise _bad(text, "challenge length must be 04..64, not %s" % q[2:])
    q_fmt = q[1]
    i += 1
    pin_hash = None
    session_len = 0
    time_step = 0
    rest = items[i:]
    order = "PST"
    seen = -1
    for item in rest:
        kind = item[:1]
        at = order.find(kind) if kind else -1
        if at < 0:
            raise _bad(text, "unknown data input %r (after Q come P, S, T)" % item)
        if at <= seen:
            raise _bad(text, "data input %r out of order or repeated (order: C, Q, P, S, T)" % item)
        seen = at
        if kind == "P":
            if item[1:] not in _HASHES:
                raise _bad(text, "unsupported PIN hash %r (use PSHA1, PSHA256 or PSHA512)" % item)
            pin_hash = item[1:]
        elif kind == "S":
            nnn = item[1:]
            n = int(nnn) if len(nnn) == 3 and nnn.isdigit() else 0
            if n < 1:
                raise _bad(text, "session information must be S001..S999, not %r" % item)
            session_len = n
        else:
            unit = item[-1:]
            spec = _UNITS.get(unit) if len(item) > 2 else None
            n = _number(item[1:-1], spec[1], spec[2]) if spec else None
            if n is None or spec is None:
                raise _bad(text, "time step must be T1S..T59S, T1M..T59M or T1H..T48H, not %r"
                           % item)
            time_step = n * spec[0]
    return Suite(text, crypto[1], digits, counter, q_fmt, q_len, pin_hash, session_len,
                 time_step)


def _check_challenge(suite, challenge):
    # The challenge as ASCII bytes when its format and length fit the suite, else None.
    if not isinstance(challenge, str):
        return None
    raw = challenge.encode()
    n = len(raw)
    if n != len(challenge) or n < _MIN_Q or n > suite.q_len:
        return None
    fmt = suite.q_fmt
    for c in raw:
        if fmt == "N":
            if c < 48 or c > 57:
                return None
        elif fmt == "H":
            if not (48 <= c <= 57 or 65 <= c <= 70 or 97 <= c <= 102):
                return None
        elif c < 32 or c > 126:  # QA: printable ASCII
            return None
    return raw


def challenge_ok(suite: "Suite | str", challenge: str) -> bool:
    # True when challenge has the suite's format (QN decimal digits, QH hex digits, QA
    # printable ASCII) and 4 up to the suite's length characters.
    return _check_challenge(parse_suite(suite), challenge) is not None


def _challenge_error(suite):
    what = {"N": "decimal digits", "H": "hex digits", "A": "printable ASCII characters"}
    if suite.q_len == _MIN_Q:
        count = "%d" % _MIN_Q
    else:
        count = "%d to %d" % (_MIN_Q, suite.q_len)
    return OcraError("the challenge must be %s %s" % (count, what[suite.q_fmt]))


def _fill_q(suite, challenge, raw):
    # The 128-byte Q field in _QBUF, built without intermediate objects for the usual short
    # numeric challenges.
    buf = _QBUF
    for i in range(_Q_BYTES):
        buf[i] = 0
    fmt = suite.q_fmt
    if fmt == "A":
        for i in range(len(raw)):
            buf[i] = raw[i]
        return buf
    if fmt == "N":
        if len(raw) > 9:  # a big int anyway: let str formatting make the hex digits
            raw = ("%X" % int(challenge)).encode()
        else:  # a small int (< 2**30): its hex digits, most significant first
            n = int(challenge)
            k = 1
            t = n >> 4
            while t:
                k += 1
                t >>= 4
            for j in range(k):
                v = (n >> (4 * (k - 1 - j))) & 0xF
                if j & 1:
                    buf[j >> 1] |= v
                else:
                    buf[j >> 1] = v << 4
            return buf
    for j in range(len(raw)):  # hex digits, left-aligned: an odd last one is a high nibble
        c = raw[j]
        v = c - 48 if c <= 57 else (c | 32) - 87
        if j & 1:
            buf[j >> 1] |= v
        else:
            buf[j >> 1] = v << 4
    return buf


def _u64(value, what):
    # value as 8 bytes big-endian in _B8.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > _MAX64:
        raise OcraError("the %s must be an integer 0 to 2**64-1" % what)
    b = _B8
    for i in range(7, -1, -1):
        b[i] = value & 0xFF
        value >>= 8
    return b


def _check_absent(value, what, suite):
    if value is not None:
        raise OcraError("suite %s takes no %s" % (suite.text, what))


def response(suite: "Suite | str", key: bytes, challenge: str, counter: "int | None" = None,
             pin: "str | None" = None, pin_hash: "bytes | None" = None,
             session: "bytes | None" = None, timestamp: "int | None" = None) -> str:
    suite = parse_suite(suite)
    if not isinstance(key, _KEY_TYPES) or len(key) == 0:
        raise OcraError("the key must be non-empty bytes")
    raw = _check_challenge(suite, challenge)
    if raw is None:
        raise _challenge_error(suite)
    # Check every input before hashing anything.
    if suite.counter:
        if counter is None:
            raise OcraError("suite %s needs a counter" % suite.text)
        _u64(counter, "counter")
    else:
        _check_absent(counter, "counter", suite)
    p = None
    if suite.pin_hash:
        if pin is not None and pin_hash is not None:
            raise OcraError("give the PIN or its hash, not both")
        if pin is not None:
            clear = pin.encode() if isinstance(pin, str) else pin
            if not isinstance(clear, _BYTES) or len(clear) == 0:
                raise OcraError("the PIN must be a non-empty string")
            p = hashes.new(suite.pin_hash_name, clear).digest()
        elif pin_hash is not None:
            if not isinstance(pin_hash, _BYTES) or len(pin_hash) != suite.pin_hash_len:
                raise OcraError("the PIN hash must be %d bytes (%s)"
                                % (suite.pin_hash_len, suite.pin_hash))
            p = pin_hash
        else:
            raise OcraError("suite %s needs a PIN" % suite.text)
    else:
        _check_absent(pin, "PIN", suite)
        _check_absent(pin_hash, "PIN hash", suite)
    if suite.session_len:
        if not isinstance(session, _BYTES) or len(session) != suite.session_len:
            raise OcraError("suite %s needs %d bytes of session information"
                            % (suite.text, suite.session_len))
    else:
        _check_absent(session, "session information", suite)
    if suite.time_step:
        if timestamp is None:
            raise OcraError("suite %s needs a timestamp" % suite.text)
        _u64(timestamp, "timestamp")
    else:
        _check_absent(timestamp, "timestamp", suite)

    m = mac.new(suite.hash_name, key)
    m.update(suite.raw)
    m.update(_ZERO)
    if suite.counter:
        m.update(_u64(counter, "counter"))
    m.update(_fill_q(suite, challenge, raw))
    if p is not None:
        m.update(p)
    if suite.session_len:
        m.update(session)
    if suite.time_step:
        m.update(_u64(timestamp, "timestamp"))
    d = m.digest()
    if suite.digits == 0:
        return binascii.hexlify(d).decode()
    # Dynamic truncation (RFC 4226 section 5.3).
    o = d[-1] & 0xF
    code = ((d[o] & 0x7F) << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3]
    s = str(code % _POW10[suite.digits])
    return "0" * (suite.digits - len(s)) + s


_POW10 = (1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
          10000000000)


def verify(suite: "Suite | str", key: bytes, challenge: str, expected: str,
           counter: "int | None" = None, pin: "str | None" = None,
           pin_hash: "bytes | None" = None, session: "bytes | None" = None,
           timestamp: "int | None" = None) -> bool:
    # True when expected is the response; compared in constant time. Bad inputs other than
    # the response itself raise OcraError like response() does.
    good = response(suite, key, challenge, counter, pin, pin_hash, session, timestamp)
    if not isinstance(expected, str):
        return False
    return mac.compare_digest(good, expected)
