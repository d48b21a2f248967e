"""The card's serial port reached the way a real one is: a pty path and a socket:// URL,
through the host tools' own transport and client, while the board runs on the wall clock."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from emuhelpers import ocra_qn_psha1

from emulator import Emulator
from host_tools.client import CardClient
from host_tools.transport import open_transport

KEY = bytes(range(32))
ADMIN = bytes(range(64, 96))


@pytest.mark.parametrize("kind", ["pty", "tcp"])
def test_host_tools_talk_to_the_card_over_its_port(kind: str) -> None:
    if kind == "pty" and not sys.platform.startswith("linux"):
        pytest.skip("pty test written for Linux")
    with Emulator(key=KEY, admin_key=ADMIN, serial_number="DSC00000042", serial=kind) as card:
        url = card.serial_url
        assert url is not None
        assert url.startswith("/dev/pts/" if kind == "pty" else "socket://127.0.0.1:")
        with open_transport(url) as t:
            client = CardClient(t)
            info = client.info()
            assert info.provisioned and info.serial_number == "DSC00000042"
            client.authenticate(ADMIN)
            assert client.test("123456", "1234") == ocra_qn_psha1(KEY, 8, "123456", "1234")


def test_wall_clock_keys_from_the_api() -> None:
    with Emulator(key=KEY, serial="tcp", bounce_ms=2) as card:
        card.hold("POWER", 1100)
        assert card.screen_text() == "PIN>"
        card.key_down("1")
        card.advance(60)
        card.key_up("1")
        card.advance(60)
        assert card.screen_text() == "PIN>\n*"


def test_cli_headless_prints_its_port_and_serves_until_terminated(tmp_path) -> None:
    key_file = tmp_path / "seed.hex"
    key_file.write_text(KEY.hex() + "\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "host_tools", "emulator", "--headless", "--serial", "tcp",
         "--key-file", str(key_file), "--serial-number", "DSC00000099",
         "--state", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serial: socket://127.0.0.1:"), line
        with open_transport(line.split(" ", 1)[1].strip()) as t:
            assert CardClient(t).info().serial_number == "DSC00000099"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert KEY.hex() not in out + err
    assert (tmp_path / "state" / "flash" / "record").is_file()


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_back_to_back_exchanges_wait_one_serial_poll_not_a_scan_period(runtime: str) -> None:
    # In virtual time, on the in-process port: each request after the first is read within the
    # firmware's serial poll period (1 ms) while the host is talking, not its 10 ms scan period.
    from dsc.app import SERIAL_LINGER_MS

    with Emulator(runtime=runtime, key=KEY, admin_key=ADMIN) as card:
        client = CardClient(card.transport())
        client.info()
        t0 = card.now()
        for _ in range(20):
            assert client.info().provisioned
        assert card.now() - t0 <= 20 * 1, card.now() - t0
        # Quiet again: after SERIAL_LINGER_MS the off card sleeps, as it always did.
        steps = card.scheduler.steps
        card.advance(SERIAL_LINGER_MS + 60_000)
        assert card.scheduler.steps - steps <= SERIAL_LINGER_MS + 2
        assert card.scheduler.next_run is None  # asleep until POWER or serial


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_a_serial_burst_of_any_size_leaves_the_card_answering(runtime: str) -> None:
    # One write of 200 KB (noise with frames inside, more than the line's 64 KB buffer) used to
    # kill the MicroPython runtime's bridge with a MemoryError: the VM now takes the input in
    # chunks, a board's receive buffer at a time.
    from dsc import protocol as P

    noise = (b"x" * 997 + b"~!!\n") * 200
    with Emulator(key=KEY, admin_key=ADMIN, serial_number="DSC00000042", runtime=runtime,
                  serial="pty") as card:
        assert card.serial_url is not None
        with open_transport(card.serial_url) as t:
            t.send(noise + P.encode(P.CMD_INFO, 7))
            deframer, answers, errors = P.Deframer(), [], 0
            for _ in range(100):
                for err, ftype, rid, _payload in deframer.feed(t.receive(0.2)):
                    assert err == 0
                    if ftype == P.RSP_ERROR:
                        errors += 1  # each "~!!" line: ERR_FRAME_BASE64
                    else:
                        answers.append((ftype, rid))
                if answers:
                    break
            assert answers == [(P.CMD_INFO | P.RSP_FLAG, 7)] and errors > 0
            assert CardClient(t).info().serial_number == "DSC00000042"
        assert card.screen_text() == ""  # still stepping (off), no traceback


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_a_huge_paste_into_the_repl_loses_no_byte_and_kills_nothing(runtime: str) -> None:
    # 180 KB of REPL code in one write over the pty: the port holds the host back (as USB CDC
    # flow control does) instead of dropping the oldest bytes, and the MicroPython runtime
    # takes the code in parts, so too much code is a MemoryError at the REPL, not a dead VM.
    import time

    code = b"x = 0\n" + b"x += 1\n" * 25000 + b"print('x =', x)\n"
    with Emulator(runtime=runtime, serial="pty") as card:
        assert card.serial_url is not None
        with open_transport(card.serial_url) as t:
            t.send(b"\x03\x01")
            deadline = time.monotonic() + 10
            said = b""
            while not said.endswith(b"raw REPL; CTRL-B to exit\r\n>"):
                said += t.receive(0.1)
                assert time.monotonic() < deadline, said
            t.send(code + b"\x04")
            said = b""
            while not said.endswith(b"\x04>"):
                said += t.receive(0.2)
                assert time.monotonic() < deadline + 20, said[-200:]
            if runtime == "cpython":
                assert said == b"OKx = 25000\r\n\x04\x04>"
            else:  # the unix port's 512 KB heap, like a board's, is too small for this much
                assert said.startswith(b"OK\x04Traceback") and b"MemoryError" in said
            t.send(b"\x02\x04")  # back to the firmware
            time.sleep(0.3)
            t.receive(0.3)
            assert CardClient(t).info().firmware == "0.1.0"


def test_an_unpaced_port_holds_the_host_back_instead_of_dropping_bytes() -> None:
    # Nobody reads the card's input for a while: the pump stops taking the host's bytes once
    # UNPACED_RX_LIMIT wait (the host's writes then block, as in front of a USB CDC device
    # that does not read), and every byte arrives, in order, once the card reads again.
    import threading
    import time

    from emulator.serialport import UNPACED_RX_LIMIT, SerialLine, open_port

    line = SerialLine()
    port = open_port(line, "pty")
    data = bytes(range(256)) * 800  # 200 KB, three times the line's buffer
    try:
        with open_transport(port.url) as t:
            writer = threading.Thread(target=t.send, args=(data,), daemon=True)
            writer.start()
            time.sleep(0.5)
            assert 0 < line.card_pending() <= UNPACED_RX_LIMIT + 4096
            assert writer.is_alive()  # held back
            got = bytearray()
            deadline = time.monotonic() + 20
            while len(got) < len(data) and time.monotonic() < deadline:
                got += line.card_read(1000)
                time.sleep(0.001)
            writer.join(timeout=5)
            assert bytes(got) == data
    finally:
        port.close()
