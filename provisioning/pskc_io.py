"""PSKC (RFC 6030) export and import of card seeds, through python-pskc.

Each card becomes one KeyPackage that another OCRA server can take over:
- algorithm `urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1` with the suite in `<Suite>`
  (the OCRA profile of draft-hoyer-keyprov-pskc-algorithm-profiles; import also takes its
  older form, the suite in the URI: `...pskc#OCRA-1:HOTP-SHA1-6:QN08`); `DeviceInfo/SerialNo`
  and the key id are the card's serial number;
- `ChallengeFormat` (DECIMAL / ALPHANUMERIC / HEXADECIMAL, min = max = the suite's length)
  and `ResponseFormat` (DECIMAL, the suite's digits);
- `PINPolicy PINUsageMode="Algorithmic"`: the PIN is an input of the algorithm (the suite's P),
  checked by the server, with the card's PIN length and the registry's failure limit;
- `Counter` for counter suites, `TimeInterval` for time suites.

Files are always encrypted (seeds are secrets): with a strong password (`check_password`:
PBKDF2, AES-256-CBC and an HMAC over the ciphertext) or a pre-shared AES key. The file is
created new, owner-only, and renamed into place (`provisioning.files`). Only cards that may
serve leave (in stock, assigned, active, unavailable): a lost or returned card is not
exported, so no other system can take it as stock.

Import reads a hostile file safely before python-pskc sees it: at most `MAX_FILE_BYTES`, no
DTD or entities, elements nested at most `MAX_DEPTH` deep, no text longer than `MAX_TEXT`;
a PBKDF2 iteration count above `MAX_PBKDF2_ITERATIONS` is refused before any key is derived.
It checks every key package before it writes anything (suite, formats that fit it, secret, PIN
policy, serial number and key id, counter range), then records all cards in one transaction:
a bad file changes nothing. Imported cards enter as `provisioned` (the exporting system vouches
for them; they carry no admin key of ours, so they cannot be wiped over the service protocol
without one).
"""

from __future__ import annotations

import io
import re
import xml.parsers.expat
from dataclasses import dataclass
from pathlib import Path

import pskc
from pskc.exceptions import PSKCError

from host_tools.text import printable
from provisioning import lifecycle, ocra_check
from provisioning.errors import InvalidInputError, NotFoundError, PskcError
from provisioning.files import check_target, write_private
from provisioning.registry import Registry

ALGORITHM = "urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1"
_ENCODING = {"N": "DECIMAL", "A": "ALPHANUMERIC", "H": "HEXADECIMAL"}
# Cards that may serve: the only ones exported (a lost card must not become stock elsewhere).
_MAY_SERVE = (lifecycle.PROVISIONED, lifecycle.ASSIGNED, lifecycle.ACTIVE, lifecycle.UNAVAILABLE)
_SERIAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # used with fullmatch: no newline
MAX_FILE_BYTES = 8 << 20
MAX_DEPTH = 32
MAX_TEXT = 64 << 10
MAX_PBKDF2_ITERATIONS = 2_000_000
MAX_COUNTER = (1 << 63) - 1  # the registry's BIGINT
PASSWORD_MIN = 12
PBKDF2_ITERATIONS = 100_000
_PSK_ALGORITHMS = {16: "aes128-cbc", 24: "aes192-cbc", 32: "aes256-cbc"}


@dataclass(frozen=True)
class Protection:
    """Exactly one of a password or a pre-shared key."""

    password: str | None = None
    psk: bytes | None = None

    def __post_init__(self) -> None:
        if (self.password is None) == (self.psk is None):
            raise PskcError("give a password or a pre-shared key file", field="protection")
        if self.psk is not None and len(self.psk) not in _PSK_ALGORITHMS:
            raise PskcError("the pre-shared key must be 16, 24 or 32 bytes (AES)")

    @property
    def kind(self) -> str:
        return "password" if self.password is not None else "pre-shared key"


def export(reg: Registry, out: Path, protection: Protection,
           serials: list[str] | None = None) -> list[str]:
    """Write the cards' seeds to `out`; returns the serial numbers exported."""
    check_target(out, PskcError)
    doc, done = _document(reg, protection, serials)
    with reg.db.transaction():
        # Logged first, in the same transaction: seeds leave only when the log took the entry.
        reg.log("pskc.export", "ok", detail={"cards": done, "protection": protection.kind})
        _write(doc, out)
    return done


def export_bytes(reg: Registry, protection: Protection,
                 serials: list[str] | None = None) -> tuple[bytes, list[str]]:
    """The encrypted PSKC file as bytes (the console's download), and the serial numbers in it;
    the same document and the same audit entry as `export`, no file."""
    doc, done = _document(reg, protection, serials)
    out = io.BytesIO()
    doc.write(out)
    with reg.db.transaction():
        reg.log("pskc.export", "ok", detail={"cards": done, "protection": protection.kind})
    return out.getvalue(), done


def _document(reg: Registry, protection: Protection,
              serials: list[str] | None) -> tuple[pskc.PSKC, list[str]]:
    if protection.password is not None:
        check_password(protection.password)
    cards = _cards_to_export(reg, serials)
    doc = pskc.PSKC()
    for card in cards:
        _add_key(reg, doc, card)
    if protection.password is not None:
        doc.encryption.setup_pbkdf2(protection.password, algorithm="aes256-cbc",
                                    iterations=PBKDF2_ITERATIONS)
    else:
        assert protection.psk is not None
        doc.encryption.setup_preshared_key(key=protection.psk,
                                           algorithm=_PSK_ALGORITHMS[len(protection.psk)])
    return doc, [c.serial_number for c in cards]


def _write(doc: pskc.PSKC, out: Path) -> None:
    """Owner-only file, created new under a temporary name, then renamed into place."""
    write_private(out, doc.write, PskcError)


def _cards_to_export(reg: Registry, serials: list[str] | None) -> list[_Card]:
    views = [reg.card(s) for s in serials] if serials else reg.cards()
    cards = []
    for v in views:
        if v.status not in _MAY_SERVE:
            if serials:
                why = "it holds no seed" if v.status in (lifecycle.BLANK, lifecycle.WIPED,
                                                         lifecycle.RETIRED) else \
                    "it may not serve, so no other system may take it"
                raise PskcError(f"card {v.serial_number} is {v.status}: {why}; nothing "
                                f"exported")
            continue
        cards.append(_Card(v.serial_number, v.suite, v.pin_len))
    if not cards:
        raise NotFoundError("no card that may serve to export")
    return cards


@dataclass(frozen=True)
class _Card:
    serial_number: str
    suite: str
    pin_len: int


def _add_key(reg: Registry, doc: pskc.PSKC, card: _Card) -> None:
    info = ocra_check.suite_info(card.suite)
    row = reg.card_row(card.serial_number)
    key = doc.add_key(id=card.serial_number, serial=card.serial_number, manufacturer="OpenDSC",
                      algorithm=ALGORITHM, secret=reg.seed(card.serial_number))
    key.algorithm_suite = card.suite
    key.challenge_encoding = _ENCODING[info.challenge_format]
    key.challenge_min_length = key.challenge_max_length = info.challenge_len
    key.response_encoding = "DECIMAL"
    key.response_length = info.response_digits
    if info.counter:
        key.counter = int(row["counter"])
    if info.time_step:
        key.time_interval = info.time_step
    if info.pin_hash:
        key.policy.pin_usage = "Algorithmic"
        key.policy.pin_min_length = key.policy.pin_max_length = card.pin_len
        key.policy.pin_encoding = "DECIMAL"
        key.policy.pin_max_failed_attempts = reg.policy.max_failures


@dataclass(frozen=True)
class Imported:
    serial_number: str
    suite: str
    seed: bytes
    pin_len: int
    counter: int


def read(path: Path, protection: Protection | None) -> list[Imported]:
    """Parse, decrypt and check every key package; raises PskcError naming what is wrong."""
    return parse(_read_bounded(path), str(path), protection)


def parse(data: bytes, path: str, protection: Protection | None) -> list[Imported]:
    """`read` of a file's content already in memory (the console's upload); `path` names it in
    the errors."""
    if len(data) > MAX_FILE_BYTES:
        raise PskcError(f"{path} is larger than {MAX_FILE_BYTES >> 20} MiB: not imported")
    _prescan(data, path)
    try:
        doc = pskc.PSKC(io.BytesIO(data))
    except (PSKCError, OSError, ValueError, RecursionError, SyntaxError) as e:
        raise PskcError(f"{path} is not a valid PSKC file: {_short(e)}") from None
    if doc.encryption.is_encrypted:
        if protection is None:
            raise PskcError(f"{path} is encrypted: give its password or pre-shared key",
                            field="protection")
        _check_derivation(doc, path)
        _unlock(doc, protection, path)
    if not doc.keys:
        raise PskcError(f"{path} holds no key packages")
    out, seen = [], set()
    for number, key in enumerate(doc.keys, 1):
        item = _check_key(key, number, path)
        if item.serial_number in seen:
            raise PskcError(f"{path}: serial number {item.serial_number} appears twice")
        seen.add(item.serial_number)
        out.append(item)
    return out


def check_password(password: str) -> None:
    """A password that protects seeds in transit must be strong: at least 12 characters
    mixing three of lower case, upper case, digits and others, or a passphrase of at least 20;
    and never mostly one repeated pattern (at least 8 different characters)."""
    classes = sum(any(f(c) for c in password) for f in (
        str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum()))
    long_enough = len(password) >= 20 or (len(password) >= PASSWORD_MIN and classes >= 3)
    if not long_enough or len(set(password)) < 8:
        raise InvalidInputError("the export password is too weak: use at least 12 characters "
                                "mixing three of lower case, upper case, digits and symbols, "
                                "or a passphrase of 20 or more (or a pre-shared key file)")


def _read_bounded(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise PskcError(f"no PSKC file {path}") from None
    except OSError as e:
        raise PskcError(f"cannot read {path}: {e.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise PskcError(f"{path} is larger than {MAX_FILE_BYTES >> 20} MiB: not imported")
    return data


class _Refused(Exception):
    pass


def _prescan(data: bytes, path: str) -> None:
    """One pass of expat over the file before python-pskc parses it: no DTD (entities), a
    bounded depth and bounded text. Expat itself is not recursive."""
    parser = xml.parsers.expat.ParserCreate()
    depth = [0, 0]  # current depth, length of the current text run

    def start(name: str, attrs: object) -> None:
        depth[0] += 1
        depth[1] = 0
        if depth[0] > MAX_DEPTH:
            raise _Refused(f"elements nested deeper than {MAX_DEPTH}")

    def end(name: str) -> None:
        depth[0] -= 1
        depth[1] = 0

    def text(chunk: str) -> None:
        depth[1] += len(chunk)
        if depth[1] > MAX_TEXT:
            raise _Refused(f"a text longer than {MAX_TEXT >> 10} KiB")

    def doctype(*args: object) -> None:
        raise _Refused("a DTD (entities are not allowed)")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        parser.Parse(data, True)
    except _Refused as e:
        raise PskcError(f"{path} is refused: {e}") from None
    except xml.parsers.expat.ExpatError as e:
        raise PskcError(f"{path} is not a valid PSKC file: {_short(e)}") from None


def _check_derivation(doc: pskc.PSKC, path: str) -> None:
    derivation = doc.encryption.derivation
    iterations, length = derivation.pbkdf2_iterations, derivation.pbkdf2_key_length
    if iterations is not None and not 1 <= int(iterations) <= MAX_PBKDF2_ITERATIONS:
        raise PskcError(f"{path}: a PBKDF2 iteration count of {int(iterations):,} is out of "
                        f"range (1 to {MAX_PBKDF2_ITERATIONS:,}): not imported")
    if length is not None and not 16 <= int(length) <= 64:
        raise PskcError(f"{path}: a PBKDF2 key length of {int(length)} bytes is out of range")


def _unlock(doc: pskc.PSKC, protection: Protection, path: str) -> None:
    try:
        if protection.password is not None:
            doc.encryption.derive_key(protection.password)
        else:
            doc.encryption.key = protection.psk
    except (PSKCError, ValueError) as e:
        raise PskcError(f"{path}: cannot set up decryption: {_short(e)}") from None


def _check_key(key: pskc.key.Key, number: int, path: str) -> Imported:
    where = f"{path}, key package {number}"
    serial = key.serial or key.id  # the key id stands in when there is no serial number
    if not serial or not _SERIAL.fullmatch(str(serial)):
        raise PskcError(f"{where}: missing or unusable serial number '{printable(serial)}' "
                        f"(letters, digits, '.', '_', '-'; at most 64)")
    if key.id is not None and printable(key.id) != str(key.id):
        raise PskcError(f"{where}: the key id '{printable(key.id)}' holds control characters")
    suite = _suite_of(key, f"{where} ({serial})")
    try:
        info = ocra_check.suite_info(suite)
    except InvalidInputError as e:
        raise PskcError(f"{where} ({serial}): {e}") from None
    _check_formats(key, info, where, str(serial))
    try:
        seed = key.secret
    except PSKCError:
        raise PskcError(f"{where} ({serial}): the secret does not decrypt (wrong password or "
                        f"key, or the file was altered)") from None
    if not seed or len(seed) < 16:
        raise PskcError(f"{where} ({serial}): no secret, or shorter than 16 bytes")
    pin_len = _pin_len(key, info, where, str(serial))
    return Imported(str(serial), info.suite, bytes(seed), pin_len,
                    _counter(key, info, where, str(serial)))


def _counter(key: pskc.key.Key, info: ocra_check.SuiteInfo, where: str, serial: str) -> int:
    try:
        counter = int(key.counter or 0)
        step = None if key.time_interval is None else int(key.time_interval)
    except (TypeError, ValueError):
        raise PskcError(f"{where} ({serial}): the counter or time interval is not a number"
                        ) from None
    if not 0 <= counter <= MAX_COUNTER:
        raise PskcError(f"{where} ({serial}): counter {counter} out of range (0 to 2^63-1)")
    if step is not None and info.time_step and step != info.time_step:
        raise PskcError(f"{where} ({serial}): time interval {step} s does not fit the suite "
                        f"{info.suite} ({info.time_step} s)")
    return counter


def _suite_of(key: pskc.key.Key, where: str) -> str:
    """The OCRA suite: `<Suite>`, or the URI's fragment (older profile drafts wrote
    `...pskc#OCRA-1:HOTP-SHA512-8:C-QN08` and no `<Suite>`); both must agree when both exist."""
    fragment = (key.algorithm or "").rpartition("#")[2]
    if not fragment.upper().startswith("OCRA-1"):
        raise PskcError(f"{where}: algorithm {key.algorithm!r} is not OCRA-1")
    in_uri = fragment if fragment.upper().startswith("OCRA-1:") else None
    given = str(key.algorithm_suite) if key.algorithm_suite else None
    if given and in_uri and given != in_uri:
        raise PskcError(f"{where}: the algorithm URI names suite {in_uri} but <Suite> says "
                        f"{given}")
    suite = given or in_uri
    if not suite:
        raise PskcError(f"{where}: no OCRA suite")
    return suite


def _check_formats(key: pskc.key.Key, info: ocra_check.SuiteInfo, where: str,
                   serial: str) -> None:
    """ChallengeFormat / ResponseFormat, when present, must say what the suite says."""
    q_enc, q_max = key.challenge_encoding, key.challenge_max_length
    if (q_enc and q_enc != _ENCODING[info.challenge_format]) or \
            (q_max is not None and int(q_max) != info.challenge_len):
        raise PskcError(f"{where} ({serial}): challenge format {q_enc}/{q_max} does not fit "
                        f"the suite {info.suite}")
    r_enc, r_len = key.response_encoding, key.response_length
    if (r_enc and r_enc != "DECIMAL") or (r_len is not None and int(r_len) != info.response_digits):
        raise PskcError(f"{where} ({serial}): response format {r_enc}/{r_len} does not fit "
                        f"the suite {info.suite}")


def _pin_len(key: pskc.key.Key, info: ocra_check.SuiteInfo, where: str, serial: str) -> int:
    if not info.pin_hash:
        return 4
    if key.policy.pin_usage not in (None, "Algorithmic"):
        raise PskcError(f"{where} ({serial}): the suite takes the PIN as input, but the PIN "
                        f"policy says {key.policy.pin_usage!r} (expected Algorithmic)")
    length = key.policy.pin_min_length or key.policy.pin_max_length or 4
    if not 4 <= int(length) <= 12:
        raise PskcError(f"{where} ({serial}): PIN length {length} out of range 4..12")
    return int(length)


def import_file(reg: Registry, path: Path, protection: Protection | None,
                batch: str | None = None) -> list[str]:
    """Record every card of the file as provisioned, all or nothing."""
    return record(reg, read(path, protection), batch)


def not_yet_known(reg: Registry, items: list[Imported]) -> None:
    """PskcError when a card of `items` is in the registry already (nothing is imported)."""
    for item in items:
        if reg.db.one("SELECT id FROM cards WHERE serial_number = ?", (item.serial_number,)):
            raise PskcError(f"card {item.serial_number} is already in the registry: "
                            f"nothing imported")


def record(reg: Registry, items: list[Imported], batch: str | None = None) -> list[str]:
    """Record checked key packages (`read`, `parse`) as provisioned cards, all or nothing."""
    with reg.db.transaction():
        not_yet_known(reg, items)
        for item in items:
            reg.confirm_provisioned(item.serial_number, seed=item.seed, admin_key=None,
                                    suite=item.suite, batch=batch, pin_len=item.pin_len,
                                    counter=item.counter, action="pskc.import")
    return [i.serial_number for i in items]


def _short(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
