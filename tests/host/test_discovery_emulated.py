"""Emulated cards announce themselves; discovery, `dsc card list` and `--port auto` see them.

The conftest gives every test its own XDG_RUNTIME_DIR, so the announcements here are this
test's only.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fakes import Card, CardTransport

from emulator import Emulator
from host_tools import announce, discovery
from host_tools.transport import CardNotFound, Transport

KEY = bytes(range(32))


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def a_pty() -> tuple[str, int, int]:
    master, slave = os.openpty()
    return os.ttyname(slave), master, slave


def plant(name: str, data: Any, mode: int = 0o600) -> Path:
    """A file in the announcement directory, as anyone with access to it could put there."""
    d = announce.directory()
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    d.parent.chmod(0o700)
    path = d / name
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    path.chmod(mode)
    return path


def good(port: str, pid: int | None = None) -> dict[str, Any]:
    return {"format": announce.FORMAT, "port": port, "pid": pid or os.getpid(),
            "runtime": "cpython", "board": "pico", "serial_number": None}


def test_written_atomically_private_and_read_back() -> None:
    port, master, slave = a_pty()
    try:
        ann = announce.Announcement(port, os.getpid(), "micropython", "pico2", "DSC00000007")
        path = announce.write(ann)
        assert path.parent == announce.directory()
        assert str(path).startswith(os.environ["XDG_RUNTIME_DIR"] + "/opendsc/emulators/")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for d in (path.parent, path.parent.parent):
            assert stat.S_IMODE(d.stat().st_mode) == 0o700
        assert json.loads(path.read_text()) == {
            "format": "opendsc-emulator/1", "port": port, "pid": os.getpid(),
            "runtime": "micropython", "board": "pico2", "serial_number": "DSC00000007"}
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
        assert announce.read_all() == [announce.Announcement(
            port, os.getpid(), "micropython", "pico2", "DSC00000007", path)]
        announce.remove(path)
        assert announce.read_all() == [] and not path.exists()
    finally:
        os.close(master)
        os.close(slave)


def test_without_xdg_runtime_dir_a_private_directory_under_tmp(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = announce.write(announce.Announcement("socket://127.0.0.1:4000", os.getpid(),
                                                "cpython", "pico", None))
    assert path.parent == tmp_path / f"opendsc-{os.getuid()}" / "emulators"
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert [a.port for a in announce.read_all()] == ["socket://127.0.0.1:4000"]


def test_a_directory_someone_else_could_have_made_is_not_used(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # In a shared temp dir another user may create opendsc-<uid> first: open to all, or a link.
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shared = tmp_path / f"opendsc-{os.getuid()}"
    (shared / "emulators").mkdir(parents=True, mode=0o700)
    shared.chmod(0o777)
    plant_ok = shared / "emulators" / "1-x.json"
    plant_ok.write_text(json.dumps(good("socket://127.0.0.1:4000")))
    plant_ok.chmod(0o600)
    assert announce.read_all() == []
    with pytest.raises(announce.AnnounceError, match="not a private directory"):
        announce.write(announce.Announcement("socket://127.0.0.1:1", os.getpid(), "cpython",
                                             "pico", None))
    shared.chmod(0o700)
    assert len(announce.read_all()) == 1
    elsewhere = tmp_path / "elsewhere"
    shared.rename(elsewhere)
    shared.symlink_to(elsewhere)  # a link to a private directory is still not ours to trust
    assert announce.read_all() == []


def test_a_stale_announcement_is_ignored_and_removed() -> None:
    port, master, slave = a_pty()
    try:
        stale = plant("1-stale.json", good(port, dead_pid()))
        live = plant("2-live.json", good(port))
        assert [a.path for a in announce.read_all()] == [live]
        assert not stale.exists() and live.exists()
    finally:
        os.close(master)
        os.close(slave)


def test_hostile_or_malformed_announcements_are_ignored(tmp_path: Path) -> None:
    port, master, slave = a_pty()
    secret = tmp_path / "secret"
    secret.write_text("not for discovery")
    try:
        hostile = {
            "not-json.json": b"{not json",
            "binary.json": b"\xff\xfe\x00",
            "list.json": [good(port)],
            "other-format.json": dict(good(port), format="opendsc-emulator/2"),
            "file-port.json": dict(good(port), port="/etc/passwd"),
            "dot-dot.json": dict(good(port), port="/dev/pts/../../etc/shadow"),
            "no-such-pty.json": dict(good(port), port="/dev/pts/999999"),
            "remote.json": dict(good(port), port="socket://10.0.0.1:4000"),
            "rfc2217.json": dict(good(port), port="rfc2217://127.0.0.1:4000"),
            "port-zero.json": dict(good(port), port="socket://127.0.0.1:0"),
            "bool-pid.json": dict(good(port), pid=True),
            "string-pid.json": dict(good(port), pid=str(os.getpid())),
            "control-chars.json": dict(good(port), serial_number="DSC\x1b[2J"),
            "long-board.json": dict(good(port), board="b" * 33),
            "huge.json": b" " * (announce.MAX_BYTES + 1) + json.dumps(good(port)).encode(),
        }
        for name, data in hostile.items():
            plant(name, data)
        plant("readable-by-others.json", good(port), mode=0o644)
        if os.getuid() == 0:  # a terminal of someone else (root: make one theirs)
            theirs, m2, s2 = a_pty()
            os.chown(theirs, 4321, -1)
            plant("their-terminal.json", good(theirs))
        else:
            m2 = s2 = -1
            plant("their-terminal.json", good("/dev/console"))
        (announce.directory() / "link.json").symlink_to(secret)
        (announce.directory() / "fifo.json").unlink(missing_ok=True)
        os.mkfifo(announce.directory() / "fifo.json", 0o600)  # must not block the reader
        assert announce.read_all() == []
        if m2 >= 0:
            os.close(m2)
            os.close(s2)
        assert secret.read_text() == "not for discovery"
        assert all((announce.directory() / n).exists() for n in hostile)  # not ours to delete
        plant("fine.json", good(port))
        assert [a.port for a in announce.read_all()] == [port]
        assert [c.port for c in discovery.candidates([])] == [port]
    finally:
        os.close(master)
        os.close(slave)


def test_the_writer_refuses_what_readers_would_refuse() -> None:
    with pytest.raises(ValueError, match="port"):
        announce.write(announce.Announcement("/etc/passwd", os.getpid(), "cpython", "pico",
                                             None))
    assert not announce.directory().exists()


# --- discovery: emulated cards beside USB ones ---
USB = [SimpleNamespace(device="/dev/ttyACM0", vid=0x2E8A, pid=0x0005, description="Board")]
EMULATED = announce.Announcement("socket://127.0.0.1:4000", 4242, "micropython", "pico2", None)


def test_listed_beside_usb_cards_and_marked_emulated() -> None:
    cards = {"/dev/ttyACM0": Card(provisioned=True), EMULATED.port: Card()}

    def opener(p: str) -> Transport:
        return CardTransport(cards[p])

    rows = [f.to_json() for f in discovery.list_cards(USB, opener, [EMULATED])]
    assert [(r["port"], r["usb"], r["emulated"], r["boards"]) for r in rows] == [
        ("/dev/ttyACM0", "2e8a:0005", False, ["pico", "pico2", "pico_buttons"]),
        ("socket://127.0.0.1:4000", None, True, ["pico2"])]
    assert rows[1]["description"] == "emulated card (micropython runtime, pid 4242)"
    assert rows[1]["info"]["provisioned"] is False
    with pytest.raises(CardNotFound, match=r"2 cards found: /dev/ttyACM0 \(DSC00000042\), "
                                           r"socket://127.0.0.1:4000 \(blank, emulated\)"):
        discovery.auto_port(USB, opener, [EMULATED])
    assert discovery.auto_port([], opener, [EMULATED]) == EMULATED.port


def test_auto_port_takes_a_running_emulator_when_it_is_the_only_card() -> None:
    with Emulator(key=KEY, serial="pty", announce=True, serial_number="DSC00000005") as card:
        [found] = discovery.list_cards([])
        assert found.candidate.port == card.serial_url and found.candidate.emulated
        assert found.info is not None and found.info.serial_number == "DSC00000005"
        assert found.candidate.description == f"emulated card (cpython runtime, pid {os.getpid()})"
        assert discovery.auto_port([]) == card.serial_url
        [ann] = announce.read_all()
        assert ann.serial_number == "DSC00000005" and ann.board == "pico"
        with Emulator(serial="tcp", announce=True) as other:
            with pytest.raises(CardNotFound, match="2 cards found"):
                discovery.auto_port([])
            assert {f.candidate.port for f in discovery.list_cards([])} == {
                card.serial_url, other.serial_url}
    assert announce.read_all() == [] and list(announce.directory().iterdir()) == []
    with Emulator(serial="pty") as quiet:  # the library announces only when asked
        assert quiet.serial_url and announce.read_all() == []


def dsc(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "host_tools", *argv], capture_output=True,
                          text=True, timeout=timeout, check=False)


def start_emulator(*argv: str) -> tuple[subprocess.Popen[str], str]:
    p = subprocess.Popen([sys.executable, "-m", "host_tools", "emulator", "--headless", *argv],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line.startswith("serial: "), line + p.stderr.read() if p.stderr else ""
    return p, line.split(" ", 1)[1].strip()


def test_dsc_emulator_announces_until_it_stops() -> None:
    p, port = start_emulator("--serial", "pty")
    try:
        deadline = time.monotonic() + 10
        while not announce.read_all() and time.monotonic() < deadline:
            time.sleep(0.05)
        out = dsc("card", "list")
        assert out.returncode == 0, out.stderr
        assert out.stdout == (f"{port}  blank  pico  {card_firmware()}  "
                              f"[emulated card (cpython runtime, pid {p.pid})]\n")
        listed = json.loads(dsc("card", "list", "--json").stdout)["cards"]
        assert [(c["port"], c["emulated"]) for c in listed] == [(port, True)]
        info = dsc("card", "info", "--port", "auto", "--json")
        assert info.returncode == 0 and json.loads(info.stdout)["board"] == "pico"
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
        assert list(announce.directory().iterdir()) == []
    finally:
        p.kill()
        p.wait()
    assert dsc("card", "list").stdout == "no card found\n"


def test_a_killed_emulator_is_cleaned_up_by_the_next_look() -> None:
    p, _ = start_emulator("--serial", "tcp")
    p.kill()
    p.wait()
    [left] = list(announce.directory().iterdir())
    assert json.loads(left.read_text())["port"].startswith("socket://127.0.0.1:")
    out = dsc("card", "info", "--port", "auto")
    assert out.returncode != 0 and "no card found" in out.stderr
    assert not left.exists()


def card_firmware() -> str:
    import dsc as firmware
    return str(firmware.VERSION)


def test_an_emulator_that_cannot_announce_still_runs(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "opendsc").mkdir(parents=True, mode=0o755)  # not private: nothing is written there
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    with Emulator(serial="pty", announce=True) as card:
        assert card.announce_error is not None
        assert card.announce_error.startswith("not announced for discovery: ")
        assert "is not a private directory of this user" in card.announce_error
        assert discovery.list_cards([]) == []
        with pytest.raises(CardNotFound, match="no card found"):
            discovery.auto_port([])
        assert not (run / "opendsc" / "emulators").exists()
    p, port = start_emulator("--serial", "pty")
    try:
        assert p.stderr is not None
        assert p.stderr.readline() == (f"dsc emulator: warning: not announced for discovery: "
                                       f"{run}/opendsc/emulators is not a private directory of "
                                       f"this user; give --port {port} to the host tools\n")
    finally:
        p.kill()
        p.wait()
