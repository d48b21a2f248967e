# dsc.ocra on CPython, the unix port and the wasm build: every RFC 6287 vector (with hashlib
# where the build has the hash, and again with the pure-Python fallback forced), the suite
# grammar, the challenge check and the error paths.
import binascii

from dsc import hashes, ocra
from mptest import main, raises, test, vectors

RFC = vectors("rfc6287.json")["vectors"]
K20 = b"12345678901234567890"
K32 = b"12345678901234567890123456789012"


def rfc_inputs(v):
    kw = {}
    if "counter" in v:
        kw["counter"] = v["counter"]
    if "pin" in v:
        kw["pin"] = v["pin"]
    if "timestamp" in v:
        kw["timestamp"] = int(v["timestamp"], 16)  # the hex count of time steps
    return binascii.unhexlify(v["key"]), kw


def check_rfc_vectors():
    assert len(RFC) >= 50, len(RFC)
    for v in RFC:
        key, kw = rfc_inputs(v)
        got = ocra.response(v["suite"], key, v["challenge"], **kw)
        assert got == v["expected"], (v["suite"], v["challenge"], got)
        suite = ocra.parse_suite(v["suite"])
        assert ocra.response(suite, key, v["challenge"], **kw) == v["expected"]
        assert ocra.verify(suite, key, v["challenge"], v["expected"], **kw)
        wrong = "0" if v["expected"][0] != "0" else "1"
        assert not ocra.verify(suite, key, v["challenge"], wrong + v["expected"][1:], **kw)


@test
def test_rfc6287_vectors():
    check_rfc_vectors()


@test
def test_rfc6287_vectors_pure_fallback():
    saved = hashes.FORCE_PURE
    hashes.FORCE_PURE = True
    try:
        check_rfc_vectors()
    finally:
        hashes.FORCE_PURE = saved


# Beyond the RFC tables: every grammar option, against values the independent implementation in
# tests/ocra_reference.py computed (tests/vectors/ocra-extra.json, made by gen_extra.py).
EXTRA = []
for _v in vectors("ocra-extra.json")["vectors"]:
    _kw = {}
    for _name in ("counter", "pin", "timestamp"):
        if _name in _v:
            _kw[_name] = _v[_name]
    if "session" in _v:
        _kw["session"] = binascii.unhexlify(_v["session"])
    EXTRA.append((_v["suite"], binascii.unhexlify(_v["key"]), _v["challenge"], _kw, _v["expected"]))


@test
def test_every_option():
    for pure in (False, True):
        assert len(EXTRA) >= 6, len(EXTRA)
        for suite, key, q, kw, want in EXTRA:
            saved = hashes.FORCE_PURE
            hashes.FORCE_PURE = pure
            try:
                assert ocra.response(suite, key, q, **kw) == want, (suite, pure)
            finally:
                hashes.FORCE_PURE = saved


@test
def test_pin_hash_instead_of_pin():
    suite = ocra.parse_suite("OCRA-1:HOTP-SHA256-8:QN08-PSHA1")
    v = RFC[0]
    for v in RFC:
        if v["suite"] == suite.text:
            break
    key, kw = rfc_inputs(v)
    stored = hashes.new("sha1", kw["pin"].encode()).digest()  # what a server keeps
    assert ocra.response(suite, key, v["challenge"], pin_hash=stored) == v["expected"]
    assert ocra.verify(suite, key, v["challenge"], v["expected"], pin_hash=stored)


@test
def test_parse_default_suite():
    s = ocra.parse_suite("OCRA-1:HOTP-SHA256-8:QN06-PSHA1")
    assert s.text == "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
    assert s.hash == "SHA256"
    assert s.digits == 8
    assert s.counter is False
    assert s.q_fmt == "N"
    assert s.q_len == 6
    assert s.pin_hash == "SHA1"
    assert s.session_len == 0
    assert s.time_step == 0
    assert ocra.parse_suite(s) is s
    assert ocra.parse_suite(b"OCRA-1:HOTP-SHA256-8:QN06-PSHA1") == s


@test
def test_parse_every_option():
    s = ocra.parse_suite("OCRA-1:HOTP-SHA512-10:C-QH64-PSHA512-S512-T59M")
    assert (s.hash, s.digits, s.counter, s.q_fmt, s.q_len) == ("SHA512", 10, True, "H", 64)
    assert (s.pin_hash, s.session_len, s.time_step) == ("SHA512", 512, 59 * 60)
    s = ocra.parse_suite("OCRA-1:HOTP-SHA1-0:QA04-S001")
    assert (s.hash, s.digits, s.q_fmt, s.q_len, s.session_len) == ("SHA1", 0, "A", 4, 1)
    assert s.pin_hash is None and s.time_step == 0 and not s.counter
    for t, secs in (("T1S", 1), ("T30S", 30), ("T59S", 59), ("T1M", 60), ("T1H", 3600),
                    ("T48H", 48 * 3600)):
        assert ocra.parse_suite("OCRA-1:HOTP-SHA1-6:QN08-" + t).time_step == secs, t
    for d in ("0", "4", "5", "6", "7", "8", "9", "10"):
        assert ocra.parse_suite("OCRA-1:HOTP-SHA1-" + d + ":QN08").digits == int(d)


BAD_SUITES = (
    "",
    "OCRA-1",
    "OCRA-2:HOTP-SHA1-6:QN08",
    "ocra-1:hotp-sha1-6:qn08",
    "OCRA-1:HOTP-SHA1-6:QN08:",
    "OCRA-1:TOTP-SHA1-6:QN08",
    "OCRA-1:HOTP-MD5-6:QN08",
    "OCRA-1:HOTP-SHA224-6:QN08",
    "OCRA-1:HOTP-SHA1-3:QN08",
    "OCRA-1:HOTP-SHA1-11:QN08",
    "OCRA-1:HOTP-SHA1-06:QN08",
    "OCRA-1:HOTP-SHA1:QN08",
    "OCRA-1:HOTP-SHA1-6:",
    "OCRA-1:HOTP-SHA1-6:C",
    "OCRA-1:HOTP-SHA1-6:QN03",
    "OCRA-1:HOTP-SHA1-6:QN65",
    "OCRA-1:HOTP-SHA1-6:QN8",
    "OCRA-1:HOTP-SHA1-6:QX08",
    "OCRA-1:HOTP-SHA1-6:QN08-C",
    "OCRA-1:HOTP-SHA1-6:C-C-QN08",
    "OCRA-1:HOTP-SHA1-6:QN08-PMD5",
    "OCRA-1:HOTP-SHA1-6:QN08-P",
    "OCRA-1:HOTP-SHA1-6:QN08-S64",
    "OCRA-1:HOTP-SHA1-6:QN08-S000",
    "OCRA-1:HOTP-SHA1-6:QN08-S0640",
    "OCRA-1:HOTP-SHA1-6:QN08-T0S",
    "OCRA-1:HOTP-SHA1-6:QN08-T60S",
    "OCRA-1:HOTP-SHA1-6:QN08-T60M",
    "OCRA-1:HOTP-SHA1-6:QN08-T0H",
    "OCRA-1:HOTP-SHA1-6:QN08-T49H",
    "OCRA-1:HOTP-SHA1-6:QN08-T01M",
    "OCRA-1:HOTP-SHA1-6:QN08-T1D",
    "OCRA-1:HOTP-SHA1-6:QN08-TM",
    "OCRA-1:HOTP-SHA1-6:QN08-T",
    "OCRA-1:HOTP-SHA1-6:QN08-T1M-PSHA1",
    "OCRA-1:HOTP-SHA1-6:QN08-S064-PSHA1",
    "OCRA-1:HOTP-SHA1-6:QN08-PSHA1-PSHA1",
    "OCRA-1:HOTP-SHA1-6:QN08-X",
    "OCRA-1:HOTP-SHA1-6:QN08-",
    " OCRA-1:HOTP-SHA1-6:QN08",
    "OCRA-1:HOTP-SHA1-6:QN08 ",
    "OCRA-1:HOTP-SHA1-6:QN\u0660\u0668",
)


@test
def test_bad_suites():
    for text in BAD_SUITES:
        e = raises(ocra.SuiteError, ocra.parse_suite, text)
        assert isinstance(e, ValueError)
        assert str(e), text
    raises(ocra.SuiteError, ocra.parse_suite, None)
    raises(ocra.SuiteError, ocra.parse_suite, 42)


@test
def test_challenge_ok():
    qn = ocra.parse_suite("OCRA-1:HOTP-SHA256-8:QN06-PSHA1")
    assert ocra.challenge_ok(qn, "123456")
    assert ocra.challenge_ok(qn, "0000")
    assert ocra.challenge_ok("OCRA-1:HOTP-SHA256-8:QN06-PSHA1", "000000")
    for bad in ("", "123", "1234567", "12345a", "12 345", "-12345", "+12345", "\u0661\u0662\u0663\u0664",
                None, 123456, b"123456"):
        assert not ocra.challenge_ok(qn, bad), bad
    qa = ocra.parse_suite("OCRA-1:HOTP-SHA512-8:QA10-T1M")
    assert ocra.challenge_ok(qa, "SIG1000000")
    assert ocra.challenge_ok(qa, "a b~!")
    for bad in ("SIG10000000", "abc", "tab\there", "caf\u00e9"):
        assert not ocra.challenge_ok(qa, bad), bad
    qh = ocra.parse_suite("OCRA-1:HOTP-SHA1-6:QH08")
    assert ocra.challenge_ok(qh, "0aF9")
    assert ocra.challenge_ok(qh, "deadBEEF")
    for bad in ("0aG9", "deadbeef0", "0x12", "abc"):
        assert not ocra.challenge_ok(qh, bad), bad


SECRET_PIN = "8642"


def error_of(*args, **kw):
    e = raises(ocra.OcraError, lambda: ocra.response(*args, **kw))
    text = str(e)
    assert isinstance(e, ValueError)
    assert text
    # the key (as text or hex) and the PIN never show up in a message
    for secret in ("1234567890", "3132333435", SECRET_PIN):
        assert secret not in text, text
    return text


@test
def test_input_errors():
    plain = "OCRA-1:HOTP-SHA1-6:QN08"
    full = "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1-S004-T1M"
    good = {"counter": 1, "pin": SECRET_PIN, "session": b"abcd", "timestamp": 7}
    assert ocra.response(full, K32, "12345678", **good)
    # the key
    error_of(plain, b"", "12345678")
    error_of(plain, "12345678901234567890", "12345678")
    error_of(plain, None, "12345678")
    # the challenge
    error_of(plain, K20, "123")
    error_of(plain, K20, "123456789")
    error_of(plain, K20, "1234567x")
    error_of(plain, K20, 12345678)
    # inputs the suite does not take
    error_of(plain, K20, "12345678", counter=1)
    error_of(plain, K20, "12345678", pin=SECRET_PIN)
    error_of(plain, K20, "12345678", pin_hash=b"\x00" * 20)
    error_of(plain, K20, "12345678", session=b"abcd")
    error_of(plain, K20, "12345678", timestamp=1)
    # inputs it needs, missing or malformed
    for name, bad in (("counter", None), ("counter", -1), ("counter", 2**64), ("counter", "1"),
                      ("counter", True), ("pin", None), ("pin", ""), ("pin", 1234),
                      ("session", None), ("session", b"abc"), ("session", b"abcde"),
                      ("session", "abcd"), ("timestamp", None), ("timestamp", -1),
                      ("timestamp", 2**64), ("timestamp", "7")):
        kw = dict(good)
        kw[name] = bad
        error_of(full, K32, "12345678", **kw)
    kw = dict(good)
    kw["pin_hash"] = hashes.new("sha1", SECRET_PIN.encode()).digest()
    error_of(full, K32, "12345678", **kw)  # a PIN and its hash
    del kw["pin"]
    assert ocra.response(full, K32, "12345678", **kw) == ocra.response(full, K32, "12345678", **good)
    kw["pin_hash"] = b"\x00" * 32  # wrong size for PSHA1
    error_of(full, K32, "12345678", **kw)
    # a bad suite given as text is a SuiteError
    raises(ocra.SuiteError, ocra.response, "OCRA-1:HOTP-SHA1-6:QN99", K20, "12345678")


@test
def test_verify_rejects_malformed_responses():
    v = RFC[0]
    key, kw = rfc_inputs(v)
    for bad in ("", v["expected"][:-1], v["expected"] + "0", " " + v["expected"][1:], None,
                int(v["expected"]), v["expected"].encode()):
        assert not ocra.verify(v["suite"], key, v["challenge"], bad, **kw), bad


main()
