"""What the server needs from a card's OCRA suite, and the expected-response check.

The OCRA computation itself is the firmware's (`dsc.ocra`, one source of truth); this module
only reads the suite's DataInput to know how to *ask*: the challenge length, which hash of the
PIN the card mixes in (P), and whether a counter (C) or a time step (T) takes part.

Decisions:
- Challenges are digits only, whatever the format (QN/QA/QH): digits are valid in all three
  encodings, and the card's keypad has nothing else.
- PIN material kept per user: SHA-1, SHA-256 and SHA-512 of the PIN, concatenated (116 bytes).
  Whatever the suite's P algorithm, the server can compute the response without keeping the PIN
  itself, and a user keeps one PIN across cards of different suites.
- Counter suites: the card advances its counter on every response, also ones never sent to
  the server, so the check looks ahead `COUNTER_WINDOW` values and resynchronises.
- Time suites: the card computes its time step from its own clock, at some moment between the
  challenge's issue and the verification. Accepted: every step from the issue's to the
  verification's, and `TIME_WINDOW` (1) more on either side for the card's clock drift; so a
  card whose clock is off by up to one time step is always accepted (at most `MAX_TIME_STEPS`
  steps are tried, the ones nearest the verification).
- Session (S) suites are refused: the card has no session input on its keypad.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import random
import secrets
from dataclasses import dataclass
from typing import Any

from dsc import ocra

from provisioning.errors import InvalidInputError, NoPinError

COUNTER_WINDOW = 10
_SYSTEM = secrets.SystemRandom()  # the default random source: the OS's CSPRNG
TIME_WINDOW = 1
MAX_TIME_STEPS = 64  # bounds the work per verification for short steps (T1S) and long TTLs
_PIN_HASHES = (("SHA1", hashlib.sha1, 20), ("SHA256", hashlib.sha256, 32),
               ("SHA512", hashlib.sha512, 64))
_SEED_BYTES = {"SHA1": 20, "SHA256": 32, "SHA512": 64}


@dataclass(frozen=True)
class SuiteInfo:
    suite: str
    hash_name: str          # the HMAC hash (seed length follows it)
    challenge_format: str   # "N", "A" or "H"
    challenge_len: int
    pin_hash: str | None    # "SHA1" | "SHA256" | "SHA512" | None
    counter: bool
    time_step: int | None   # seconds per step
    parsed: Any = None      # the firmware's dsc.ocra.Suite (saves re-parsing per response)

    @property
    def seed_bytes(self) -> int:
        return _SEED_BYTES[self.hash_name]

    @property
    def response_digits(self) -> int:
        return int(self.suite.split(":")[1].rsplit("-", 1)[1])


@functools.lru_cache(maxsize=64)
def suite_info(suite: str) -> SuiteInfo:
    """The firmware's parse of the suite, reduced to what the server needs."""
    try:
        parsed = ocra.parse_suite(suite)
    except ValueError as e:  # dsc.ocra.SuiteError: the message says what is wrong
        raise InvalidInputError(str(e)) from None
    if parsed.session_len:
        raise InvalidInputError(f"suite {suite}: session (S) input cannot be typed on the card")
    return SuiteInfo(suite=suite, hash_name=parsed.hash, challenge_format=parsed.q_fmt,
                     challenge_len=parsed.q_len, pin_hash=parsed.pin_hash,
                     counter=bool(parsed.counter), time_step=parsed.time_step or None,
                     parsed=parsed)


def new_challenge(info: SuiteInfo, rng: random.Random = _SYSTEM) -> str:
    return "".join(rng.choice("0123456789") for _ in range(info.challenge_len))


def new_seed(info: SuiteInfo, rng: random.Random = _SYSTEM) -> bytes:
    return rng.randbytes(info.seed_bytes)


def check_pin(pin: str, pin_len: int) -> None:
    if not pin.isdigit() or not pin.isascii() or len(pin) != pin_len:
        raise InvalidInputError(f"the PIN must be {pin_len} digits (the card's PIN length)")


def pin_material(pin: str) -> bytes:
    raw = pin.encode("ascii")
    return b"".join(fn(raw).digest() for _, fn, _ in _PIN_HASHES)


def pin_hash(material: bytes, name: str) -> bytes:
    start = 0
    for hname, _, size in _PIN_HASHES:
        if hname == name:
            return material[start:start + size]
        start += size
    raise InvalidInputError(f"unknown PIN hash {name}")


def compute(info: SuiteInfo, seed: bytes, challenge: str, material: bytes | None,
            counter: int | None = None, timestamp: int | None = None) -> str:
    ph = pin_hash(material, info.pin_hash) if info.pin_hash and material else None
    if info.pin_hash and ph is None:
        raise NoPinError("this suite needs a PIN and the user has none: reset the user's PIN")
    return str(ocra.response(info.parsed, seed, challenge, counter=counter, pin_hash=ph,
                             timestamp=timestamp))


def match(info: SuiteInfo, seed: bytes, challenge: str, material: bytes | None,
          response: str, *, counter: int = 0, now: int = 0,
          since: int | None = None) -> int | None:
    """None when `response` is wrong; else the counter value that matched (0 without C).
    Time suites: `since` is when the challenge was issued (default `now`)."""
    counters = range(counter, counter + COUNTER_WINDOW + 1) if info.counter else (None,)
    steps: tuple[int | None, ...] = (None,)
    if info.time_step:
        last = now // info.time_step + TIME_WINDOW
        first = min(now, now if since is None else since) // info.time_step - TIME_WINDOW
        steps = tuple(range(last, max(first, last - MAX_TIME_STEPS + 1) - 1, -1))
    for c in counters:
        for t in steps:
            expected = compute(info, seed, challenge, material, c, t)
            if hmac.compare_digest(expected.encode(), response.encode()):
                return c or 0
    return None
