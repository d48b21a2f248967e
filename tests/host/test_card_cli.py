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
from dsc import protocol as P
from fakes import ADMIN_KEY, SECRET, SERIAL, SUITE, Card, CardTransport

from host_tools import admin_keys, discovery
from host_tools.cli import main
from host_tools.errors import InvalidInputError
from host_tools.transport import CardNotFound, Transport, TransportError


@pytest.fixture
def cards(monkeypatch: pytest.MonkeyPatch) -> dict[str, Card]:
    """Ports "fake0", "fake1", ... lead to these fake cards."""
    attached: dict[str, Card] = {}

    def opener(port: str, baudrate: int = 115200) -> Transport:
        if port not in attached:
            raise CardNotFound(f"cannot open {port}: no such device")
        return CardTransport(attached[port])

    monkeypatch.setattr("host_tools.cli.cmd_card.open_transport", opener)
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
        with pytest.raises(InvalidInputError):
            admin_keys.derive_admin_key(master, bad)
    with pytest.raises(InvalidInputError):
        admin_keys.derive_admin_key(bytes(8), "DSC1")


def test_master_key_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(admin_keys.MASTER_FILE_ENV, raising=False)
    with pytest.raises(InvalidInputError, match="DSC_ADMIN_MASTER_KEY_FILE"):
        admin_keys.read_master_key()
    f = tmp_path / "m.hex"
    f.write_text("ab" * 32)
    f.chmod(0o600)
    monkeypatch.setenv(admin_keys.MASTER_FILE_ENV, str(f))
    assert admin_keys.read_master_key() == bytes([0xAB]) * 32
    f.write_text("not hex")
    with pytest.raises(InvalidInputError) as e:
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


# --- what a support engineer runs into ---
class Wire(CardTransport):
    """A card behind a line we can watch and tamper with: `sent` keeps what the host sent;
    `forge_blank_info` makes INFO answers say "blank" (a man in the middle); `cut_at` makes the
    line fail when the host sends that command (the card never sees it)."""

    def __init__(self, card: Card, forge_blank_info: bool = False, cut_at: int = 0) -> None:
        super().__init__(card)
        self.sent = bytearray()
        self.forge = forge_blank_info
        self.cut_at = cut_at

    def send(self, data: bytes) -> None:
        self.sent += data
        frames = P.Deframer().feed(data)
        if self.cut_at and frames and frames[0][1] == self.cut_at:
            raise TransportError("lost the card on fake0 (writing to it failed): unplugged?")
        super().send(data)

    def receive(self, timeout: float) -> bytes:
        data = super().receive(timeout)
        if not self.forge:
            return data
        out = b""
        for _err, t, rid, payload in P.Deframer().feed(data):
            if t == P.CMD_INFO | P.RSP_FLAG:
                f = P.tlv_decode(payload)
                payload = P.tlv_encode([(k, v) for k, v in f.items()
                                        if k not in (P.T_SERIAL, P.T_SUITE, P.T_PROVISIONED)]
                                       + [(P.T_PROVISIONED, b"\x00")])
            out += P.encode(t, rid, payload)
        return out


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> dict[str, Wire]:
    lines: dict[str, Wire] = {}
    monkeypatch.setattr("host_tools.cli.cmd_card.open_transport",
                        lambda port, baudrate=115200: lines[port])
    return lines


def test_forged_blank_info_does_not_get_the_seed_in_the_clear(
        wired: dict[str, Wire], keyfiles: SimpleNamespace,
        capsys: pytest.CaptureFixture[str]) -> None:
    card = Card(provisioned=True)
    before = card.state()
    wired["fake0"] = line = Wire(card, forge_blank_info=True)
    new_seed = keyfiles.dir / "new.hex"
    new_seed.write_text("5a" * 32)
    code, out, err = run(capsys, "provision", "--port", "fake0", "--serial-number", SERIAL,
                         "--key-file", str(new_seed), "--admin-key-file", keyfiles.wrong,
                         "--current-admin-key-file", keyfiles.admin)
    assert (code, out) == (1, "") and "refusing to send the seed in the clear" in err
    frames = P.Deframer().feed(bytes(line.sent))
    assert all(bytes([0x5A]) * 32 not in f[3] for f in frames)
    assert {f[1] for f in frames} == {P.CMD_INFO}
    assert card.state() == before


def test_bad_config_is_refused_before_the_card_is_touched(
        wired: dict[str, Wire], keyfiles: SimpleNamespace,
        capsys: pytest.CaptureFixture[str]) -> None:
    wired["fake0"] = line = Wire(Card())
    for option, value, field in (("--pin-len", "3", "pin_len"), ("--idle-ms", "10", "idle_ms"),
                                 ("--response-ms", "99999999", "response_ms"),
                                 ("--serial-number", "x" * 40, "serial")):
        argv = ["provision", "--port", "fake0", "--serial-number", SERIAL, "--key-file",
                keyfiles.seed, "--admin-key-file", keyfiles.admin, option, value]
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, "") and f"cannot provision: {field}" in err, err
        assert err.count("\n") == 1
    assert line.sent == b""


def test_reprovision_current_key_from_a_file_new_key_from_the_master(
        wired: dict[str, Wire], keyfiles: SimpleNamespace,
        capsys: pytest.CaptureFixture[str]) -> None:
    master = keyfiles.dir / "master.hex"
    master.write_text("11" * 32)
    master.chmod(0o600)
    card = Card(provisioned=True)
    wired["fake0"] = Wire(card)
    code, _, err = run(capsys, "provision", "--port", "fake0", "--serial-number", "DSC7",
                       "--key-file", keyfiles.seed, "--admin-master-key-file", str(master),
                       "--current-admin-key-file", keyfiles.admin)
    assert code == 0, err
    assert card.app.record is not None
    assert card.app.record.admin_key == admin_keys.derive_admin_key(bytes([0x11]) * 32, "DSC7")


@pytest.mark.parametrize(("cut_at", "text"), [
    (P.CMD_PROVISION, "the card holds its old record or the new one: check with `dsc card "
                      "info`, then run this command again"),
    (P.CMD_TEST, "the card took the new seed, not yet confirmed: run this command again")])
def test_line_lost_midway_says_what_the_card_holds(
        wired: dict[str, Wire], keyfiles: SimpleNamespace, capsys: pytest.CaptureFixture[str],
        cut_at: int, text: str) -> None:
    wired["fake0"] = Wire(Card(), cut_at=cut_at)
    code, out, err = run(capsys, "provision", "--port", "fake0", "--serial-number", SERIAL,
                         "--key-file", keyfiles.seed, "--admin-key-file", keyfiles.admin)
    assert (code, out) == (1, "") and err.count("\n") == 1
    assert err.startswith("dsc: error: lost the card on fake0") and text in err
    assert SECRET.hex() not in err and ADMIN_KEY.hex() not in err


def test_test_checks_the_suite_rules_before_auth(
        wired: dict[str, Wire], keyfiles: SimpleNamespace,
        capsys: pytest.CaptureFixture[str]) -> None:
    wired["fake0"] = line = Wire(Card(provisioned=True))
    for argv, text in ((["--challenge", "12a456", "--pin", "1234"], "the challenge must be"),
                       (["--challenge", "123456"], "needs a PIN"),
                       (["--challenge", "123456", "--pin", "1234", "--session-info", "00"],
                        "takes no session")):
        code, out, err = run(capsys, "test", "--port", "fake0", "--admin-key-file",
                             keyfiles.admin, *argv)
        assert (code, out) == (2, "") and f"the card's suite {SUITE}: " in err, err
        assert text in err and "1234" not in err
    assert {f[1] for f in P.Deframer().feed(bytes(line.sent))} == {P.CMD_INFO}  # no AUTH
    with pytest.raises(SystemExit) as exit_:
        main(["card", "test", "--port", "fake0", "--challenge", "1", "--timeout", "0"])
    assert exit_.value.code == 2 and "more than 0" in capsys.readouterr().err


def test_test_time_and_session_suites(wired: dict[str, Wire], keyfiles: SimpleNamespace,
                                      capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for suite, extra in (("OCRA-1:HOTP-SHA256-8:QA10-T1M", []),
                         ("OCRA-1:HOTP-SHA1-6:QH08-S064", ["--session-info", "ab" * 64])):
        card = Card()
        wired["fake0"] = Wire(card)
        assert run(capsys, "provision", "--port", "fake0", "--serial-number", SERIAL, "--suite",
                   suite, "--key-file", keyfiles.seed, "--admin-key-file", keyfiles.admin)[0] == 0
        monkeypatch.setenv("TEST_PIN", "4321")  # not used by these suites: refused if given
        code, out, err = run(capsys, "test", "--port", "fake0", "--challenge", "abc12",
                             "--admin-key-file", keyfiles.admin, "--json", *extra)
        assert code == 0, err
        got = json.loads(out)
        expected = ocra.response(suite, SECRET, "abc12", timestamp=got.get("timestamp"),
                                 session=bytes([0xAB]) * 64 if extra else None)
        assert got["response"] == expected
        assert ("timestamp" in got) == ("-T" in suite)
        code, _, err = run(capsys, "test", "--port", "fake0", "--challenge", "abc12",
                           "--admin-key-file", keyfiles.admin, "--pin-env", "TEST_PIN", *extra)
        assert code == 2 and "takes no PIN" in err and "4321" not in err


def test_pin_from_a_file_or_the_environment(wired: dict[str, Wire], keyfiles: SimpleNamespace,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    wired["fake0"] = line = Wire(Card(provisioned=True))
    pin_file = keyfiles.dir / "pin"
    pin_file.write_text("7777\n")
    monkeypatch.setenv("CARD_PIN", "7777")
    want = ocra.response(SUITE, SECRET, "123456", pin="7777")
    for source in (["--pin-file", str(pin_file)], ["--pin-env", "CARD_PIN"]):
        code, out, err = run(capsys, "test", "--port", "fake0", "--challenge", "123456",
                             "--admin-key-file", keyfiles.admin, *source)
        assert (code, out.strip()) == (0, want), err
    assert b"7777" not in bytes(line.sent)  # the PIN went sealed


def test_a_hostile_cards_info_strings_are_escaped(cards: dict[str, Card],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cards["fake0"] = card = Card()
    card.hal.board["name"] = "pico\x1b]0;owned\x07\x1b[2J\u202e"
    code, out, _ = run(capsys, "info", "--port", "fake0")
    assert code == 0 and "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "pico\\x1b]0;owned\\x07\\x1b[2J\\u202e" in out
    code, out, _ = run(capsys, "info", "--port", "fake0", "--json")
    assert json.loads(out)["board"] == card.hal.board["name"] and "\x1b" not in out
