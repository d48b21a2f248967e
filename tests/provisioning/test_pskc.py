"""PSKC (RFC 6030) export and import: round trip, encryption, and bad files that change nothing."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pskc
import pytest
from regkit import Env

from provisioning import audit, pskc_io, support
from provisioning.errors import AuditError, PskcError
from provisioning.registry import Registry

INVALID = Path(__file__).parent / "pskc_invalid"
PW = "correct horse battery staple"
EXPECT = {
    "not-xml.pskcxml": "not a valid PSKC file",
    "truncated.pskcxml": "not a valid PSKC file",
    "hotp-not-ocra.pskcxml": "is not OCRA-1",
    "unknown-suite.pskcxml": "unsupported hash",
    "no-secret.pskcxml": "no secret",
    "short-secret.pskcxml": "shorter than 16 bytes",
    "duplicate-serial.pskcxml": "appears twice",
    "pin-not-algorithmic.pskcxml": "expected Algorithmic",
    "response-length-mismatch.pskcxml": "response format DECIMAL/6 does not fit the suite",
    "challenge-format-mismatch.pskcxml": "challenge format HEXADECIMAL/8 does not fit",
    "suite-uri-mismatch.pskcxml": "the algorithm URI names suite OCRA-1:HOTP-SHA1-6:QN08",
}


@pytest.fixture
def other(tmp_path: Path, env: Env) -> Registry:
    reg, _, _ = Registry.init(str(tmp_path / "other.sqlite3"), tmp_path / "other.key",
                              clock=env.clock)
    return reg


def _counts(reg: Registry) -> tuple[int, int]:
    cards = reg.db.one("SELECT COUNT(*) AS n FROM cards")
    log = reg.db.one("SELECT COUNT(*) AS n FROM audit")
    assert cards is not None and log is not None
    return int(cards["n"]), int(log["n"])


@pytest.mark.parametrize("protection", [pskc_io.Protection(password=PW),
                                        pskc_io.Protection(psk=os.urandom(32))],
                         ids=["password", "psk"])
def test_round_trip_then_login(env: Env, other: Registry, tmp_path: Path,
                               protection: pskc_io.Protection) -> None:
    a, b = env.active(), env.card("OCRA-1:HOTP-SHA1-6:C-QN08-PSHA256")
    out = tmp_path / "cards.pskcxml"
    assert pskc_io.export(env.reg, out, protection) == [a, b]
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    text = out.read_text()
    assert env.seeds[a].hex() not in text and "Algorithmic" in text
    assert pskc_io.import_file(other, out, protection, batch="from-a") == [a, b]
    assert other.seed(a) == env.seeds[a] and other.seed(b) == env.seeds[b]
    assert other.card(b).suite == "OCRA-1:HOTP-SHA1-6:C-QN08-PSHA256"
    assert other.card(a).status == "provisioned" and other.card(a).batch == "from-a"
    assert [e.action for e in audit.entries(other.db)][-2:] == ["pskc.import"] * 2
    # the imported card logs in against the new registry
    env.reg = other
    support.assign(other, a, "zoe", "2222")
    assert env.login("zoe", a, "2222").accepted


def test_export_carries_the_ocra_profile(env: Env, tmp_path: Path) -> None:
    serial = env.card()
    out = tmp_path / "one.pskcxml"
    pskc_io.export(env.reg, out, pskc_io.Protection(password=PW), [serial])
    doc = pskc.PSKC(str(out))
    doc.encryption.derive_key(PW)
    (key,) = doc.keys
    assert key.algorithm == pskc_io.ALGORITHM and key.algorithm_suite == env.reg.card(serial).suite
    assert (key.challenge_encoding, key.challenge_min_length, key.challenge_max_length) == (
        "DECIMAL", 6, 6)
    assert (key.response_encoding, key.response_length) == ("DECIMAL", 8)
    assert (key.policy.pin_usage, key.policy.pin_min_length) == ("Algorithmic", 4)
    assert key.serial == serial and key.secret == env.seeds[serial]


def test_wrong_password_or_key_changes_nothing(env: Env, other: Registry, tmp_path: Path) -> None:
    env.card()
    out = tmp_path / "c.pskcxml"
    pskc_io.export(env.reg, out, pskc_io.Protection(password=PW))
    before = _counts(other)
    for bad in (pskc_io.Protection(password="wrong"), pskc_io.Protection(psk=b"k" * 32)):
        with pytest.raises(PskcError, match=r"does not decrypt|cannot set up"):
            pskc_io.import_file(other, out, bad)
    with pytest.raises(PskcError, match="is encrypted"):
        pskc_io.import_file(other, out, None)
    assert _counts(other) == before


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_invalid_files_are_refused_and_change_nothing(other: Registry, name: str) -> None:
    before = _counts(other)
    with pytest.raises(PskcError, match=EXPECT[name]):
        pskc_io.import_file(other, INVALID / name, None)
    assert _counts(other) == before


def test_every_invalid_file_has_an_expectation() -> None:
    assert sorted(p.name for p in INVALID.iterdir()) == sorted(EXPECT)


def test_import_of_a_known_serial_changes_nothing(env: Env, tmp_path: Path) -> None:
    env.card()
    out = tmp_path / "c.pskcxml"
    pskc_io.export(env.reg, out, pskc_io.Protection(password=PW))
    before = _counts(env.reg)
    with pytest.raises(PskcError, match="already in the registry"):
        pskc_io.import_file(env.reg, out, pskc_io.Protection(password=PW))
    assert _counts(env.reg) == before


def test_export_refuses_cards_without_a_seed(env: Env, tmp_path: Path) -> None:
    blank = env.reg.allocate_serial("OCRA-1:HOTP-SHA256-8:QN06-PSHA1")
    with pytest.raises(PskcError, match="blank: it holds no seed"):
        pskc_io.export(env.reg, tmp_path / "x", pskc_io.Protection(password=PW), [blank])
    assert not (tmp_path / "x").exists()


def test_export_to_a_missing_directory_is_a_clear_error(env: Env, tmp_path: Path) -> None:
    env.card()
    before = _counts(env.reg)
    with pytest.raises(PskcError, match="no directory"):
        pskc_io.export(env.reg, tmp_path / "nowhere" / "c.pskcxml",
                       pskc_io.Protection(password=PW))
    assert _counts(env.reg) == before


def test_no_seed_leaves_unless_the_export_is_logged(env: Env, tmp_path: Path) -> None:
    env.card()
    env.reg.db.execute("UPDATE audit_chains SET mac = 'x:0'")  # the audit log refuses to extend
    out = tmp_path / "c.pskcxml"
    with pytest.raises(AuditError):
        pskc_io.export(env.reg, out, pskc_io.Protection(password=PW))
    assert not any(p.name.startswith("c.pskcxml") for p in tmp_path.iterdir())


def test_suite_given_in_the_algorithm_uri_is_taken(other: Registry, tmp_path: Path) -> None:
    # the older profile drafts name the suite in the URI instead of <Suite>
    seed = bytes(range(20))
    out = tmp_path / "uri.pskcxml"
    out.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0"><KeyPackage>'
        '<DeviceInfo><SerialNo>OLD42</SerialNo></DeviceInfo>'
        '<Key Id="OLD42" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1:HOTP-SHA1-6:'
        'C-QN08"><AlgorithmParameters><ResponseFormat Encoding="DECIMAL" Length="6"/>'
        '</AlgorithmParameters><Data><Secret><PlainValue>'
        f'{base64.b64encode(seed).decode()}</PlainValue></Secret><Counter><PlainValue>7'
        '</PlainValue></Counter></Data></Key></KeyPackage></KeyContainer>\n')
    assert pskc_io.import_file(other, out, None) == ["OLD42"]
    assert other.card("OLD42").suite == "OCRA-1:HOTP-SHA1-6:C-QN08"
    assert other.seed("OLD42") == seed and other.card_row("OLD42")["counter"] == 7
