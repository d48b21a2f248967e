"""The support CLI on a registry (no card attached): exit statuses, files, refusals, found."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from deskkit import SUITE, Desk
from dsc import ocra

DAY = 86400


@pytest.fixture
def desk(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         tmp_path: Path) -> Desk:
    return Desk(monkeypatch, capsys, tmp_path)


def test_verify_exit_status_tells_portal_only_apart(desk: Desk) -> None:
    serial = desk.active()
    passcode = desk.json("temp-passcode", "alice")["passcode"]
    ch = desk.json("challenge", "alice")
    code, out, _ = desk.run("verify", "alice", ch["id"], "-", stdin=passcode + "\n")
    assert code == 0 and "full access" in out
    with desk.registry() as reg:  # two days later: the portal only (the row MAC renewed)
        row = reg.db.one("SELECT * FROM temp_access")
        assert row is not None
        reg.update("temp_access", row, full_until=row["issued_at"])
    ch = desk.json("challenge", "alice")
    code, out, _ = desk.run("verify", "alice", ch["id"], "-", "--json", stdin=passcode + "\n")
    data = json.loads(out)
    assert code == 3 and data["status"] == "portal-only" and data["access"] == "portal-only"
    ch = desk.json("challenge", "alice")
    code, _, _ = desk.run("verify", "alice", ch["id"], "00000000")
    assert code == 1
    assert desk.status(serial) == "unavailable"


def test_security_card_that_cannot_be_written_changes_nothing(desk: Desk) -> None:
    serial = desk.active()
    out = desk.tmp / "card.png"
    out.mkdir()  # a directory where the file should go
    code, _, err = desk.run("security-card", "alice", "--out", str(out))
    assert code == 2 and "is a directory" in err and "Traceback" not in err
    assert desk.status(serial) == "active"
    assert desk.json("show", "alice")["temporary_access"] == []
    with desk.registry() as reg:
        assert reg.db.all("SELECT id FROM temp_access") == []


def test_security_card_file_is_new_and_never_follows_a_symlink(desk: Desk) -> None:
    desk.active()
    victim = desk.tmp / "victim.txt"
    victim.write_text("keep me")
    victim.chmod(0o644)
    out = desk.tmp / "card.png"
    out.symlink_to(victim)
    data = desk.json("security-card", "alice", "--out", str(out))
    assert data["status"] == "temporary access"
    assert victim.read_text() == "keep me"
    assert not out.is_symlink() and out.read_bytes().startswith(b"\x89PNG")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # an existing file keeps neither its mode nor its inode
    old = desk.tmp / "old.png"
    old.write_bytes(b"x")
    old.chmod(0o666)
    inode = old.stat().st_ino
    desk.json("security-card", "alice", "--out", str(old))
    assert stat.S_IMODE(old.stat().st_mode) == 0o600 and old.stat().st_ino != inode
    assert [p.name for p in desk.tmp.iterdir() if p.name.endswith(".tmp")] == []


def test_assign_refusals_say_what_to_do(desk: Desk) -> None:
    first = desk.active()
    second = desk.card()
    code, _, err = desk.run("assign", second, "alice", "--pin-stdin", stdin="9999\n")
    assert code == 2 and "already has a PIN" in err and "--replace-pin" in err
    assert desk.status(second) == "provisioned"
    six = desk.card(pin_len=6)
    code, _, err = desk.run("assign", six, "alice")
    assert code == 2 and "takes 6-digit PINs" in err
    assert desk.json("assign", second, "alice", "--pin-stdin", "--replace-pin",
                     stdin="9999\n")["status"] == "assigned"
    ch = desk.json("challenge", "alice", "--serial-number", first)
    response = ocra.response(SUITE, desk.seeds[first], ch["challenge"], pin="9999")
    assert desk.run("verify", "alice", ch["id"], str(response))[0] == 0


def test_found_cli(desk: Desk) -> None:
    serial = desk.active()
    desk.json("lost", serial)
    assert desk.json("found", serial)["status"] == "active"
    code, _, err = desk.run("found", serial)
    assert code == 1 and "it is active" in err
    desk.json("lost", serial)
    new = desk.card()
    desk.json("replace", serial, new)
    code, out, _ = desk.run("found", serial)
    assert code == 0 and "returned" in out and "a replacement took its place" in out


def test_show_activates_a_card_whose_day_has_come(desk: Desk) -> None:
    serial = desk.card()
    desk.json("assign", serial, "bob", "--pin-stdin", stdin="1234\n")
    with desk.registry() as reg:  # 14 days ago (the row MAC renewed)
        card = reg.card_row(serial)
        reg.update("cards", card, status_at=int(card["status_at"]) - 14 * DAY)
    assert desk.json("show", serial)["status"] == "active"


def test_operator_text_is_escaped_in_the_audit_listing(desk: Desk) -> None:
    serial = desk.card()
    desk.run("assign", serial, "bob", "--pin-stdin", "--operator", "eve\x1b[2J\r", stdin="1234\n")
    code, out, _ = desk.run("audit")
    assert code == 0 and "\x1b" not in out and "\r" not in out
    assert "eve\\x1b[2J\\x0d" in out


def test_a_tail_cut_back_to_an_older_head_is_found_by_the_external_anchor(desk: Desk) -> None:
    serial = desk.card()
    old = desk.json("audit", "--verify")
    with desk.registry() as reg:  # what an attacker who read the database earlier kept
        chains = [dict(r) for r in reg.db.all("SELECT id, seq, hash, mac FROM audit_chains")]
        last = reg.db.one("SELECT MAX(seq) AS s FROM audit")
        point = reg.db.one("SELECT MAX(id) AS p FROM audit_checkpoints")
        assert last is not None and point is not None
    desk.json("assign", serial, "bob", "--pin-stdin", stdin="1234\n")
    anchor = desk.json("audit", "--verify")  # quoted in the ticket system
    assert anchor["entries"] > old["entries"]
    assert desk.json("audit", "--verify", "--expect", old["head"])["expected"] == "held"
    # cut the tail back: delete the newer entries and checkpoints, put the old heads back
    with desk.registry() as reg:
        with reg.db.transaction():
            reg.db.execute("DELETE FROM audit WHERE seq > ?", (last["s"],))
            reg.db.execute("DELETE FROM audit_checkpoints WHERE id > ?", (point["p"],))
            for c in chains:
                reg.db.execute("UPDATE audit_chains SET seq = ?, hash = ?, mac = ? WHERE id = ?",
                               (c["seq"], c["hash"], c["mac"], c["id"]))
    assert desk.json("audit", "--verify")["head"] == old["head"]  # the log alone: "intact"
    code, _, err = desk.run("audit", "--verify", "--expect", anchor["head"])
    assert code == 1 and "does not hold the state" in err and "put back or cut" in err
    code, _, err = desk.run("audit", "--verify", "--expect", "abc")
    assert code == 2 and "64 hex digits" in err
    code, _, err = desk.run("audit", "--expect", anchor["head"])
    assert code == 2 and "--expect goes with --verify" in err


def test_provision_names_a_mistyped_port_at_once_and_takes_a_timeout(
        desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    from host_tools.transport import CardNotFound

    desk.with_admin_key()
    asked: list[tuple[str, float]] = []

    def open_client(port: str, timeout: float = 3.0) -> Any:
        asked.append((port, timeout))
        raise CardNotFound(f"cannot open {port}: no such port")

    monkeypatch.setattr("provisioning.cardlink.open_client", open_client)
    code, _, err = desk.run("provision", "--port", "/dev/ttyACMO", "--timeout", "20")
    assert code == 2 and "cannot open port /dev/ttyACMO" in err
    assert asked == [("/dev/ttyACMO", 20.0)]  # once, not polled for --wait
    with pytest.raises(SystemExit) as e:
        desk.run("provision", "--port", "x", "--timeout", "0")
    assert e.value.code == 2 and "--timeout" in desk.capsys.readouterr().err
