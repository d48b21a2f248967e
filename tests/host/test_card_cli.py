"""`dsc card ...`, admin-key diversification and discovery, against fake cards in-process."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from dsc import ocra
from fakes import ADMIN_KEY, SECRET, SERIAL, SUITE, Card, CardTransport

from host_tools import admin_keys, discovery
from host_tools.cli import main
from host_tools.errors import UsageError
from host_tools.transport import CardNotFound, Transport


@pytest.fixture
def cards(monkeypatch: pytest.MonkeyPatch) -> dict[str, Card]:
    """Ports "fake0", "fake1", ... lead to these fake cards."""
    attached: dict[str, Card] = {}

    def opener(port: str, baudrate: int = 115200) -> Transport:
        if port not in attached:
            raise CardNotFound(f"cannot open {port}: no such device")
        return CardTransport(attached[port])

    monkeypatch.setattr("host_tools.commands.card.open_transport", opener)
    return attached


@pytest.fixture
def keyfiles(tmp_path: Path) -> SimpleNamespace:
    seed = tmp_path / "seed.hex"
    seed.write_text(SECRET.hex() + "\n")
    admin = tmp_path / "admin.hex"
    admin.write_text("  " + ADMIN_KEY.hex() + "\n")
    wrong = tmp_path / "wrong.hex"
    wrong.write_text("00" * 32)
    return SimpleNamespace(seed=str(seed), admin=str(admin), wrong=str(wrong), dir=tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["card", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_provision_test_info_lock_wipe(cards: dict[str, Card], keyfiles: SimpleNamespace,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    cards["fake0"] = card = Card()
    code, out, _ = run(capsys, "provision", "--port", "fake0", "--serial-number", SERIAL,
                       "--key-file", keyfiles.seed, "--admin-key-file", keyfiles.admin, "--json")
    assert code == 0 and json.loads(out) == {"serial_number": SERIAL, "suite": SUITE,
                                             "confirmed": True}
    code, out, _ = run(capsys, "test", "--port", "fake0", "--challenge", "123456", "--pin", "1234",
                       "--admin-key-file", keyfiles.admin, "--json")
    assert json.loads(out)["response"] == ocra.response(SUITE, SECRET, "123456", pin="1234")
    code, out, _ = run(capsys, "info", "--port", "fake0", "--json")
    info = json.loads(out)
    assert (info["serial_number"], info["provisioned"], info["locked"]) == (SERIAL, True, False)
    assert run(capsys, "lock", "--port", "fake0", "--admin-key-file", keyfiles.admin)[0] == 0
    assert card.app.record is not None and card.app.record.locked
    assert run(capsys, "wipe", "--port", "fake0", "--admin-key-file", keyfiles.admin)[0] == 0
    assert card.app.record is None and set(card.hal.files) == {"authfail"}  # AUTH count stays
    for text in (out, json.dumps(info)):
        assert SECRET.hex() not in text and ADMIN_KEY.hex() not in text


def test_reprovision_with_wrong_admin_key_fails_and_changes_nothing(
        cards: dict[str, Card], keyfiles: SimpleNamespace,
        capsys: pytest.CaptureFixture[str]) -> None:
    cards["fake0"] = card = Card(provisioned=True)
    before = card.state()
    code, out, err = run(capsys, "provision", "--port", "fake0", "--serial-number", "EVIL",
                         "--key-file", keyfiles.seed, "--admin-key-file", keyfiles.wrong)
    assert code == 1 and out == ""
    assert err.startswith("dsc: error: ") and "wrong admin key" in err
    assert err.count("\n") == 1 and "0000" not in err
    assert card.state() == before


def test_reprovision_with_current_admin_key(cards: dict[str, Card], keyfiles: SimpleNamespace,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    cards["fake0"] = card = Card(provisioned=True)
    code, _, err = run(capsys, "provision", "--port", "fake0", "--serial-number", "DSC2",
                       "--key-file", keyfiles.seed, "--admin-key-file", keyfiles.wrong,
                       "--current-admin-key-file", keyfiles.admin)
    assert code == 0, err
    assert card.app.record is not None and card.app.record.admin_key == bytes(32)


def test_admin_key_from_master(cards: dict[str, Card], keyfiles: SimpleNamespace,
                               capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    master = keyfiles.dir / "master.hex"
    admin_keys.new_master_key_file(master)
    assert master.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv(admin_keys.MASTER_FILE_ENV, str(master))
    cards["fake0"] = card = Card()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = run(capsys, "provision", "--port", "fake0", "--serial-number", "DSC9",
                       "--key-stdin", "--suite", "OCRA-1:HOTP-SHA1-6:QN08")
    assert code == 2 and "seed" in err  # stdin is empty here: a clear message, nothing sent
    assert card.hal.files == {}
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET.hex() + "\n"))
    code, _, err = run(capsys, "provision", "--port", "fake0", "--serial-number", "DSC9",
                       "--key-stdin", "--suite", "OCRA-1:HOTP-SHA1-6:QN08")
    assert code == 0, err
    expected = admin_keys.derive_admin_key(bytes.fromhex(master.read_text()), "DSC9")
    assert card.app.record is not None and card.app.record.admin_key == expected
    code, out, _ = run(capsys, "test", "--port", "fake0", "--challenge", "00000000", "--json")
    assert json.loads(out)["response"] == ocra.response("OCRA-1:HOTP-SHA1-6:QN08", SECRET,
                                                        "00000000")


@pytest.mark.parametrize("suite", ["OCRA-1:HOTP-SHA512-8:C-QN08",
                                   "OCRA-1:HOTP-SHA256-8:QA10-T1M",
                                   "OCRA-1:HOTP-SHA1-6:QH08-S064"])
def test_provision_confirms_every_suite_kind(cards: dict[str, Card], keyfiles: SimpleNamespace,
                                             capsys: pytest.CaptureFixture[str],
                                             suite: str) -> None:
    cards["fake0"] = Card()
    code, _, err = run(capsys, "provision", "--port", "fake0", "--serial-number", SERIAL,
                       "--suite", suite, "--key-file", keyfiles.seed,
                       "--admin-key-file", keyfiles.admin)
    assert code == 0, err


@pytest.mark.parametrize(("argv", "code", "text"), [
    (["info", "--port", "nowhere"], 1, "cannot open nowhere"),
    (["test", "--port", "fake0", "--challenge", "123456", "--admin-key-file", "/no/file"], 2,
     "cannot read the admin key file"),
    (["provision", "--port", "fake0", "--serial-number", "X", "--suite", "OCRA-9",
      "--key-file", "SEED", "--admin-key-file", "ADMIN"], 2, "suite"),
    (["wipe", "--port", "fake0", "--admin-key-file", "ADMIN"], 1, "blank already"),
    (["lock", "--port", "fake0", "--admin-key-file", "ADMIN"], 1, "not provisioned"),
])
def test_errors_are_one_line(cards: dict[str, Card], keyfiles: SimpleNamespace,
                             capsys: pytest.CaptureFixture[str], argv: list[str], code: int,
                             text: str) -> None:
    cards["fake0"] = Card()
    argv = [keyfiles.seed if a == "SEED" else keyfiles.admin if a == "ADMIN" else a for a in argv]
    got, out, err = run(capsys, *argv)
    assert (got, out) == (code, "")
    assert text in err and err.count("\n") == 1


def test_test_on_card_busy(cards: dict[str, Card], keyfiles: SimpleNamespace,
                           capsys: pytest.CaptureFixture[str]) -> None:
    cards["fake0"] = card = Card(provisioned=True)
    card.service._throttle.charge()
    code, _, err = run(capsys, "test", "--port", "fake0", "--challenge", "123456", "--pin", "1",
                       "--admin-key-file", keyfiles.admin)
    assert code == 1 and "retry in 1.0 s" in err


# --- admin keys ---
def test_admin_key_diversification() -> None:
    master = bytes(range(32))
    k1 = admin_keys.derive_admin_key(master, "DSC00000001")
    assert k1 == hmac.new(master, b"OpenDSC admin key v1\x00DSC00000001", hashlib.sha256).digest()
    assert k1 != admin_keys.derive_admin_key(master, "DSC00000002")
    assert len(k1) == 32
    for bad in ("", "DSC\x01", "x" * 33, "DSCé"):
        with pytest.raises(UsageError):
            admin_keys.derive_admin_key(master, bad)
    with pytest.raises(UsageError):
        admin_keys.derive_admin_key(bytes(8), "DSC1")


def test_master_key_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(admin_keys.MASTER_FILE_ENV, raising=False)
    with pytest.raises(UsageError, match="DSC_ADMIN_MASTER_KEY_FILE"):
        admin_keys.read_master_key()
    f = tmp_path / "m.hex"
    f.write_text("ab" * 32)
    monkeypatch.setenv(admin_keys.MASTER_FILE_ENV, str(f))
    assert admin_keys.read_master_key() == bytes([0xAB]) * 32
    f.write_text("not hex")
    with pytest.raises(UsageError) as e:
        admin_keys.read_master_key(f)
    assert "not hex" in str(e.value) and "ab" not in str(e.value)
    with pytest.raises(FileExistsError):
        admin_keys.new_master_key_file(f)


# --- discovery ---
def port(device: str, vid: int | None, pid: int | None) -> Any:
    return SimpleNamespace(device=device, vid=vid, pid=pid, description="USB Serial")


PORTS = [port("/dev/ttyACM0", 0x2E8A, 0x0005), port("/dev/ttyS0", None, None),
         port("/dev/ttyUSB0", 0x0403, 0x6001), port("/dev/ttyACM1", 0x2E8A, 0x0005)]


def test_candidates_by_board_usb_ids() -> None:
    found = discovery.candidates(PORTS)
    assert [c.port for c in found] == ["/dev/ttyACM0", "/dev/ttyACM1"]
    assert "pico" in found[0].boards


def test_auto_port(tmp_path: Path) -> None:
    attached = {"/dev/ttyACM0": Card(provisioned=True)}

    def opener(p: str) -> Transport:
        if p not in attached:
            raise CardNotFound(f"cannot open {p}: busy")
        return CardTransport(attached[p])

    assert discovery.auto_port(PORTS, opener) == "/dev/ttyACM0"
    attached["/dev/ttyACM1"] = Card()
    with pytest.raises(CardNotFound, match=r"2 cards found: /dev/ttyACM0 \(DSC00000042\), "
                                           r"/dev/ttyACM1 \(blank\); give --port"):
        discovery.auto_port(PORTS, opener)
    with pytest.raises(CardNotFound, match="is it plugged in"):
        discovery.auto_port([], opener)
    attached.clear()
    with pytest.raises(CardNotFound, match="ttyACM0: cannot open /dev/ttyACM0: busy"):
        discovery.auto_port(PORTS, opener)
    rows = [f.to_json() for f in discovery.list_cards(PORTS, opener)]
    assert rows[0]["usb"] == "2e8a:0005" and rows[0]["info"] is None
