"""dsc.ocra / dsc.sha / dsc.mac against independent implementations on CPython's standard library.

Random suites over the whole grammar, keys, challenges, counters, PINs, sessions and timestamps are
compared with tests/ocra_reference.py (hmac/hashlib); then one unit test per error path.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import pytest
from dsc import hashes, mac, ocra, sha
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocra_reference import reference_response

HASHES = ("SHA1", "SHA256", "SHA512")
UNITS = {"S": (1, 59), "M": (1, 59), "H": (1, 48)}
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Case:
    suite: str
    key: bytes
    challenge: str
    kw: dict[str, Any]


@st.composite
def suites(draw: st.DrawFn) -> str:
    h = draw(st.sampled_from(HASHES))
    digits = draw(st.sampled_from([0, 4, 5, 6, 7, 8, 9, 10]))
    data = []
    if draw(st.booleans()):
        data.append("C")
    data.append(f"Q{draw(st.sampled_from('NAH'))}{draw(st.integers(4, 64)):02d}")
    if draw(st.booleans()):
        data.append("P" + draw(st.sampled_from(HASHES)))
    if draw(st.booleans()):
        data.append(f"S{draw(st.integers(1, 999)):03d}")
    if draw(st.booleans()):
        unit = draw(st.sampled_from("SMH"))
        lo, hi = UNITS[unit]
        data.append(f"T{draw(st.integers(lo, hi))}{unit}")
    return f"OCRA-1:HOTP-{h}-{digits}:{'-'.join(data)}"


@st.composite
def cases(draw: st.DrawFn) -> Case:
    text = draw(suites())
    s = ocra.parse_suite(text)
    n = draw(st.integers(4, s.q_len))
    alphabet = {"N": "0123456789", "H": "0123456789abcdefABCDEF",
                "A": "".join(chr(c) for c in range(32, 127))}[s.q_fmt]
    challenge = draw(st.text(alphabet=alphabet, min_size=n, max_size=n))
    key = draw(st.binary(min_size=1, max_size=200))
    kw: dict[str, Any] = {}
    if s.counter:
        kw["counter"] = draw(st.integers(0, 2**64 - 1))
    if s.pin_hash:
        kw["pin"] = draw(st.text(alphabet="0123456789", min_size=1, max_size=12))
    if s.session_len:
        kw["session"] = draw(st.binary(min_size=s.session_len, max_size=s.session_len))
    if s.time_step:
        kw["timestamp"] = draw(st.integers(0, 2**64 - 1))
    return Case(text, key, challenge, kw)


@SETTINGS
@given(cases())
def test_matches_reference(case: Case) -> None:
    want = reference_response(case.suite, case.key, case.challenge, **case.kw)
    assert ocra.response(case.suite, case.key, case.challenge, **case.kw) == want
    assert ocra.verify(case.suite, case.key, case.challenge, want, **case.kw)
    assert ocra.challenge_ok(case.suite, case.challenge)


@settings(max_examples=60, deadline=None)
@given(cases())
def test_matches_reference_pure_fallback(case: Case) -> None:
    want = reference_response(case.suite, case.key, case.challenge, **case.kw)
    hashes.FORCE_PURE = True
    try:
        assert ocra.response(case.suite, case.key, case.challenge, **case.kw) == want
    finally:
        hashes.FORCE_PURE = False


@SETTINGS
@given(suites())
def test_parse_round_trip(text: str) -> None:
    s = ocra.parse_suite(text)
    assert s.text == text
    assert s.hash in HASHES
    kinds = [item[0] for item in text.split(":")[2].split("-")]
    assert s.counter == ("C" in kinds)
    assert (s.pin_hash is not None) == ("P" in kinds)
    assert (s.session_len > 0) == ("S" in kinds)
    assert (s.time_step > 0) == ("T" in kinds)


@SETTINGS
@given(st.text(max_size=60))
def test_parse_never_crashes(text: str) -> None:
    try:
        s = ocra.parse_suite(text)
    except ocra.SuiteError:
        return
    assert s.text == text


@SETTINGS
@given(st.sampled_from(["sha1", "sha256", "sha512"]), st.binary(max_size=700),
       st.lists(st.integers(0, 700), max_size=4))
def test_pure_sha_matches_hashlib(name: str, data: bytes, cuts: list[int]) -> None:
    h = sha.CLASSES[name]()
    last = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts):
        h.update(data[last:cut])
        last = cut
    h.update(data[last:])
    assert h.digest() == hashlib.new(name, data).digest()


@SETTINGS
@given(st.sampled_from(["sha1", "sha256", "sha512"]), st.binary(max_size=300),
       st.binary(max_size=300), st.booleans())
def test_hmac_matches_stdlib(name: str, key: bytes, msg: bytes, pure: bool) -> None:
    assert mac.hmac(name, key, msg, pure) == hmac.new(key, msg, name).digest()


@SETTINGS
@given(st.binary(max_size=40), st.binary(max_size=40))
def test_compare_digest_matches_stdlib(a: bytes, b: bytes) -> None:
    assert mac.compare_digest(a, b) == hmac.compare_digest(a, b)
    assert mac.compare_digest(a, a)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sha1", "sha256", "sha512"])
def test_million_a(name: str) -> None:
    # FIPS 180 long message: one million 'a', fed in uneven pieces.
    want = {
        "sha1": "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
        "sha256": "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
        "sha512": "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
                  "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b",
    }[name]
    h = sha.CLASSES[name]()
    chunk = b"a" * 1000
    for _ in range(1000):
        h.update(chunk)
    assert h.hexdigest() == want


# --- error paths, one by one ------------------------------------------------------------------

K = b"12345678901234567890"
FULL = "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1-S004-T1M"
GOOD: dict[str, Any] = {"counter": 1, "pin": "8642", "session": b"abcd", "timestamp": 7}


def ocra_error(suite: str, key: Any, challenge: Any, **kw: Any) -> str:
    with pytest.raises(ocra.OcraError) as info:
        ocra.response(suite, key, challenge, **kw)
    text = str(info.value)
    assert "1234567890" not in text and "8642" not in text
    assert "3132333435" not in text
    return text


@pytest.mark.parametrize(("text", "words"), [
    ("", "three parts"),
    ("OCRA-2:HOTP-SHA1-6:QN08", "version"),
    ("OCRA-1:TOTP-SHA1-6:QN08", "HOTP"),
    ("OCRA-1:HOTP-MD5-6:QN08", "unsupported hash"),
    ("OCRA-1:HOTP-SHA1-3:QN08", "digits"),
    ("OCRA-1:HOTP-SHA1-6:C", "challenge"),
    ("OCRA-1:HOTP-SHA1-6:QZ08", "bad challenge"),
    ("OCRA-1:HOTP-SHA1-6:QN99", "04..64"),
    ("OCRA-1:HOTP-SHA1-6:QN08-X1", "unknown data input"),
    ("OCRA-1:HOTP-SHA1-6:QN08-T1M-PSHA1", "out of order"),
    ("OCRA-1:HOTP-SHA1-6:QN08-PSHA1-PSHA1", "repeated"),
    ("OCRA-1:HOTP-SHA1-6:QN08-PMD5", "PIN hash"),
    ("OCRA-1:HOTP-SHA1-6:QN08-S000", "S001..S999"),
    ("OCRA-1:HOTP-SHA1-6:QN08-T0H", "time step"),
    ("OCRA-1:HOTP-SHA1-6:QN08-T60S", "time step"),
    ("OCRA-1:HOTP-SHA1-6:QN\u0660\u0668", "ASCII"),
])
def test_suite_error_messages(text: str, words: str) -> None:
    with pytest.raises(ocra.SuiteError, match=words):
        ocra.parse_suite(text)


def test_suite_error_is_value_error() -> None:
    assert issubclass(ocra.SuiteError, ValueError)
    assert issubclass(ocra.OcraError, ValueError)
    with pytest.raises(ocra.SuiteError, match="text"):
        ocra.parse_suite(123)


def test_key_errors() -> None:
    assert "key" in ocra_error("OCRA-1:HOTP-SHA1-6:QN08", b"", "12345678")
    assert "key" in ocra_error("OCRA-1:HOTP-SHA1-6:QN08", K.decode(), "12345678")


@pytest.mark.parametrize(("suite", "challenge", "words"), [
    ("OCRA-1:HOTP-SHA1-6:QN08", "123", "4 to 8 decimal digits"),
    ("OCRA-1:HOTP-SHA1-6:QN08", "123456789", "4 to 8 decimal digits"),
    ("OCRA-1:HOTP-SHA1-6:QN04", "12a4", "4 decimal digits"),
    ("OCRA-1:HOTP-SHA1-6:QH08", "xyz0", "hex digits"),
    ("OCRA-1:HOTP-SHA1-6:QA08", "tab\tx", "printable ASCII"),
])
def test_challenge_errors(suite: str, challenge: str, words: str) -> None:
    assert words in ocra_error(suite, K, challenge)


@pytest.mark.parametrize(("name", "value", "words"), [
    ("counter", None, "needs a counter"),
    ("counter", -1, "counter must be"),
    ("counter", 2**64, "counter must be"),
    ("counter", True, "counter must be"),
    ("pin", None, "needs a PIN"),
    ("pin", "", "PIN must be"),
    ("session", None, "4 bytes of session"),
    ("session", b"abc", "4 bytes of session"),
    ("timestamp", None, "needs a timestamp"),
    ("timestamp", 2**64, "timestamp must be"),
])
def test_missing_or_bad_inputs(name: str, value: Any, words: str) -> None:
    kw = dict(GOOD, **{name: value})
    assert words in ocra_error(FULL, K, "12345678", **kw)


@pytest.mark.parametrize("name", ["counter", "pin", "pin_hash", "session", "timestamp"])
def test_superfluous_inputs(name: str) -> None:
    value = {"counter": 1, "pin": "8642", "pin_hash": bytes(20), "session": b"ab",
             "timestamp": 1}[name]
    text = ocra_error("OCRA-1:HOTP-SHA1-6:QN08", K, "12345678", **{name: value})
    assert "takes no" in text


def test_pin_and_pin_hash_conflict_and_size() -> None:
    kw = dict(GOOD, pin_hash=hashlib.sha1(b"8642").digest())
    assert "not both" in ocra_error(FULL, K, "12345678", **kw)
    del kw["pin"]
    assert ocra.response(FULL, K, "12345678", **kw) == ocra.response(FULL, K, "12345678", **GOOD)
    kw["pin_hash"] = bytes(19)
    assert "20 bytes" in ocra_error(FULL, K, "12345678", **kw)


def test_verify_bad_response_is_false_not_error() -> None:
    r = ocra.response(FULL, K, "12345678", **GOOD)
    assert ocra.verify(FULL, K, "12345678", r, **GOOD)
    assert not ocra.verify(FULL, K, "12345678", r[:-1], **GOOD)
    assert not ocra.verify(FULL, K, "12345678", None, **GOOD)
    with pytest.raises(ocra.OcraError):
        ocra.verify(FULL, K, "12345678", r, **dict(GOOD, pin=None))


def test_hash_errors() -> None:
    with pytest.raises(ValueError, match="unknown hash"):
        hashes.new("md5")
    with pytest.raises(ValueError, match="already"):
        m = mac.HMAC("sha1", b"k")
        m.digest()
        m.digest()
    with pytest.raises(TypeError):
        mac.compare_digest("a", b"a")
