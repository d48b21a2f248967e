"""PSKC files as an attacker makes them, and exports that must not weaken the seeds (issue 9,
items 7 and 17): strong passwords, files created new, bounded parsing, every field checked,
only cards that may serve leave."""

from __future__ import annotations

import base64
import stat
import time
from pathlib import Path

import pytest
from regkit import Env

from provisioning import pskc_io, support
from provisioning.errors import InvalidInputError, PskcError
from provisioning.registry import Registry

PW = "correct horse battery staple"
SUITE_URI = "urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1:HOTP-SHA1-6:C-QN08"


@pytest.fixture
def other(tmp_path: Path, env: Env) -> Registry:
    reg, _, _ = Registry.init(str(tmp_path / "other.sqlite3"), tmp_path / "other.key",
                              clock=env.clock)
    return reg


def _cards(reg: Registry) -> int:
    row = reg.db.one("SELECT COUNT(*) AS n FROM cards")
    assert row is not None
    return int(row["n"])


def _plain(tmp_path: Path, *, key_id: str = "OLD42", serial: str | None = "OLD42",
           counter: str = "7", extra: str = "") -> Path:
    seed = base64.b64encode(bytes(range(20))).decode()
    device = f"<DeviceInfo><SerialNo>{serial}</SerialNo></DeviceInfo>" if serial else ""
    out = tmp_path / "plain.pskcxml"
    out.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc" Version="1.0"><KeyPackage>'
        f'{device}<Key Id="{key_id}" Algorithm="{SUITE_URI}">{extra}<Data><Secret>'
        f'<PlainValue>{seed}</PlainValue></Secret><Counter><PlainValue>{counter}</PlainValue>'
        '</Counter></Data></Key></KeyPackage></KeyContainer>\n')
    return out


# --- export -----------------------------------------------------------------------------------
@pytest.mark.parametrize("password", ["x", "Sh0rt!", "aaaaaaaaaaaaaaaaaaaaaaaa",
                                      "abcabcabcabcabcabcabcabc", "onlylowercase"])
def test_a_weak_export_password_is_refused(env: Env, tmp_path: Path, password: str) -> None:
    env.card()
    out = tmp_path / "c.pskcxml"
    with pytest.raises(InvalidInputError, match="too weak"):
        pskc_io.export(env.reg, out, pskc_io.Protection(password=password))
    assert list(tmp_path.glob("c.pskcxml*")) == []


@pytest.mark.parametrize("password", [PW, "Tr0ub4dor&3x"])
def test_a_strong_password_or_passphrase_is_taken(env: Env, tmp_path: Path,
                                                  password: str) -> None:
    env.card()
    pskc_io.export(env.reg, tmp_path / "c.pskcxml", pskc_io.Protection(password=password))


def test_export_never_follows_a_symlink_nor_keeps_an_old_file(env: Env, tmp_path: Path) -> None:
    env.card()
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    out = tmp_path / "c.pskcxml"
    out.symlink_to(victim)
    pskc_io.export(env.reg, out, pskc_io.Protection(password=PW))
    assert victim.read_text() == "keep me" and not out.is_symlink()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # the old fixed temporary name, planted as a symlink, is not used either
    planted = tmp_path / "c.pskcxml.tmp"
    planted.symlink_to(victim)
    out.unlink()
    pskc_io.export(env.reg, out, pskc_io.Protection(password=PW))
    assert victim.read_text() == "keep me" and out.read_text().startswith("<?xml")
    assert planted.is_symlink()  # untouched
    assert not any(p.name.startswith(".c.pskcxml") for p in tmp_path.iterdir())


def test_only_cards_that_may_serve_are_exported(env: Env, other: Registry,
                                                tmp_path: Path) -> None:
    stock, lost = env.card(), env.active()
    support.mark_lost(env.reg, lost)
    out = tmp_path / "c.pskcxml"
    assert pskc_io.export(env.reg, out, pskc_io.Protection(password=PW)) == [stock]
    with pytest.raises(PskcError, match="is lost: it may not serve"):
        pskc_io.export(env.reg, out, pskc_io.Protection(password=PW), [lost])
    assert pskc_io.import_file(other, out, pskc_io.Protection(password=PW)) == [stock]
    support.return_card(env.reg, lost)
    with pytest.raises(PskcError, match="is returned"):
        pskc_io.export(env.reg, out, pskc_io.Protection(password=PW), [lost])


# --- import -----------------------------------------------------------------------------------
def test_deep_nesting_is_refused_without_a_crash(other: Registry, tmp_path: Path) -> None:
    path = tmp_path / "deep.pskcxml"
    n = 131_000
    path.write_text('<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc">'
                    + "<a>" * n + "</a>" * n + "</KeyContainer>")
    t0 = time.monotonic()
    with pytest.raises(PskcError, match="nested deeper than 32"):
        pskc_io.import_file(other, path, None)
    assert time.monotonic() - t0 < 5 and _cards(other) == 0


def test_huge_files_and_tokens_are_refused_quickly(other: Registry, tmp_path: Path) -> None:
    big = tmp_path / "big.pskcxml"
    big.write_bytes(b"<KeyContainer>" + b"A" * (pskc_io.MAX_FILE_BYTES + 1))
    with pytest.raises(PskcError, match="larger than 8 MiB"):
        pskc_io.import_file(other, big, None)
    token = _plain(tmp_path, extra="<UserId>" + "A" * (4 << 20) + "</UserId>")
    t0 = time.monotonic()
    with pytest.raises(PskcError, match="a text longer than 64 KiB"):
        pskc_io.import_file(other, token, None)
    assert time.monotonic() - t0 < 5 and _cards(other) == 0


def test_entities_are_refused(other: Registry, tmp_path: Path) -> None:
    path = tmp_path / "dtd.pskcxml"
    path.write_text('<?xml version="1.0"?><!DOCTYPE k [<!ENTITY a "aaaaaaaaaa">'
                    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
                    '<KeyContainer xmlns="urn:ietf:params:xml:ns:keyprov:pskc">&b;'
                    '</KeyContainer>')
    with pytest.raises(PskcError, match="DTD"):
        pskc_io.import_file(other, path, None)


def test_an_absurd_pbkdf2_iteration_count_is_refused_before_deriving(
        env: Env, other: Registry, tmp_path: Path) -> None:
    env.card()
    out = tmp_path / "c.pskcxml"
    pskc_io.export(env.reg, out, pskc_io.Protection(password=PW))
    out.write_text(out.read_text().replace("<IterationCount>100000<",
                                           "<IterationCount>1000000000<"))
    t0 = time.monotonic()
    with pytest.raises(PskcError, match="iteration count of 1,000,000,000 is out of range"):
        pskc_io.import_file(other, out, pskc_io.Protection(password=PW))
    assert time.monotonic() - t0 < 2 and _cards(other) == 0


@pytest.mark.parametrize(("kw", "text"), [
    ({"counter": "-1"}, "counter -1 out of range"),
    ({"counter": str(1 << 64)}, "out of range"),
    ({"key_id": "OLD42&#10;", "serial": None}, "unusable serial number 'OLD42\\\\x0a'"),
    ({"serial": "OLD 42"}, "unusable serial number 'OLD 42'"),
    ({"key_id": "K&#8238;x"}, "the key id 'K\\\\u202ex' holds control characters"),
])
def test_every_field_is_checked(other: Registry, tmp_path: Path, kw: dict[str, str],
                                text: str) -> None:
    path = _plain(tmp_path, **kw)
    with pytest.raises(PskcError, match=text):
        pskc_io.import_file(other, path, None)
    assert _cards(other) == 0


def test_a_clean_plain_file_still_imports(other: Registry, tmp_path: Path) -> None:
    assert pskc_io.import_file(other, _plain(tmp_path), None) == ["OLD42"]
    assert other.card_row("OLD42")["counter"] == 7
