"""The emulated serial port paced like a UART (`baud=`, `--baud`): 10 bit times per byte in
each direction against the wall clock, the data intact, and unpaced when no rate is given."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import Emulator, EmulatorError
from emulator.serialport import (
    BITS_PER_BYTE,
    RX_LIMIT,
    SLICE_NS,
    LinePacer,
    SerialLine,
    _Port,
    open_port,
)
from host_tools.cli import main as dsc_main
from host_tools.client import CardClient
from host_tools.transport import Transport, TransportError, open_transport

KEY = bytes(range(32))
BAUD = 9600
N = 240  # 0.25 s at 9600 baud: long enough to measure, short enough for CI
KINDS = ["pty", "tcp"] if sys.platform.startswith("linux") else ["tcp"]


def floor_s(n: int, baud: int) -> float:
    return n * BITS_PER_BYTE / baud


# --- the pacer's arithmetic (integer nanoseconds) ---

def test_pacer_hands_over_each_byte_once_its_ten_bits_are_through() -> None:
    p = LinePacer(BAUD)  # one byte: 10/9600 s = 1041666.67 ns
    p.push(b"abc", 1000)
    assert p.pop(1000) == b""
    assert p.pop(1000 + 1041666) == b""  # a nanosecond short of the first stop bit
    assert p.pop(1000 + 1041667) == b"a"
    assert p.wait_ns(1000 + 1041667) == 2083334 - 1041667  # until byte 2 is through
    assert p.pop(1000 + 3125000) == b"bc"
    assert len(p) == 0 and p.wait_ns(0) is None


class _Timed(_Port):
    """A pump with a given wait and a selector that only records what it was asked."""

    def __init__(self, timeout: float, events: list[object]) -> None:  # no thread, no fds
        self.asked: list[float] = []
        self.wait, self.events = timeout, events

    def _timeout(self) -> float:
        return self.wait

    @property
    def _sel(self) -> object:  # type: ignore[override]
        port = self

        class Recorder:
            def select(self, timeout: float) -> list[object]:
                port.asked.append(timeout)
                return port.events

        return Recorder()


@pytest.mark.parametrize(("wait", "selected", "slept"), [
    (0.0025, 0.002, 0.0005),  # epoll waits whole ms (rounding up): the rest is slept
    (0.0003, 0.0, 0.0003),  # a last byte due in 0.3 ms is handed over then, not in 1 ms
    (0.5, 0.5, None),  # idle: the selector alone
])
def test_the_pump_wakes_on_time_for_a_due_byte(monkeypatch: pytest.MonkeyPatch, wait: float,
                                               selected: float, slept: float | None) -> None:
    naps: list[float] = []
    monkeypatch.setattr("emulator.serialport.time.sleep", naps.append)
    port = _Timed(wait, [])
    assert port._select() == [] and port.asked == [pytest.approx(selected)]
    assert naps == ([] if slept is None else [pytest.approx(slept)])
    naps.clear()
    busy = _Timed(wait, ["an event"])  # something to do: no sleeping on top
    assert busy._select() == ["an event"] and naps == []


def test_pacer_sends_back_to_back_then_idles() -> None:
    p = LinePacer(100_000)  # 100 us a byte
    p.push(b"12", 0)
    p.push(b"34", 150_000)  # queued behind the first two: the line is busy
    assert p.pop(350_000) == b"123"
    assert p.pop(400_000) == b"4"
    p.push(b"5", 10_000_000)  # an idle line starts the new byte when it arrives
    assert p.pop(10_099_999) == b""
    assert p.pop(10_100_000) == b"5"


def test_pacer_wakes_in_slices_but_on_time_for_the_last_byte() -> None:
    p = LinePacer(1_000_000)  # 10 us a byte: waking per byte would be wasteful
    p.push(bytes(1000), 0)
    assert p.wait_ns(0) == SLICE_NS
    p.pop(SLICE_NS)
    assert p.wait_ns(9_995_000) == 5_000  # the last byte is through at 10 ms


@pytest.mark.parametrize("bad", [0, -9600, 9600.0, True, "9600", None])
def test_a_bad_baud_rate_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="baud must be a positive whole number"):
        LinePacer(bad)  # type: ignore[arg-type]


# --- the ports, with the SerialLine's card side played by the test ---

@pytest.fixture(params=KINDS)
def paced(request: pytest.FixtureRequest) -> Iterator[tuple[SerialLine, _Port, Transport]]:
    line = SerialLine()
    port = open_port(line, request.param, baud=BAUD)
    host = open_transport(port.url, BAUD)
    try:
        yield line, port, host
    finally:
        host.close()
        port.close()


def _card_receives(line: SerialLine, n: int, timeout: float) -> tuple[bytes, list[float]]:
    """What the card side reads until n bytes came, with the arrival time of each chunk."""
    arrived = threading.Event()
    line.on_input.append(arrived.set)
    got, times = b"", []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < n and time.monotonic() < deadline:
            arrived.wait(0.05)
            arrived.clear()
            chunk = line.card_read()
            if chunk:
                got += chunk
                times.append(time.monotonic())
    finally:
        line.on_input.remove(arrived.set)
    return got, times


Paced = tuple[SerialLine, _Port, Transport]


def test_host_to_card_takes_ten_bit_times_a_byte(paced: Paced) -> None:
    line, _, host = paced
    data = os.urandom(N)
    t0 = time.monotonic()
    host.send(data)
    got, times = _card_receives(line, N, timeout=5)
    assert got == data
    elapsed = times[-1] - t0
    assert floor_s(N, BAUD) <= elapsed < floor_s(N, BAUD) + 1.5
    # A line, not a delay: the first bytes reach the card long before the last.
    assert times[0] - t0 < floor_s(N, BAUD) / 2
    assert len(times) > 5


def test_card_to_host_takes_ten_bit_times_a_byte(paced: Paced) -> None:
    line, _, host = paced
    data = os.urandom(N)
    t0 = time.monotonic()
    line.card_write(data)
    got = b""
    first = None
    while len(got) < N and time.monotonic() - t0 < 5:
        got += host.receive(0.1)
        first = first or (time.monotonic() if got else None)
    elapsed = time.monotonic() - t0
    assert got == data
    assert floor_s(N, BAUD) <= elapsed < floor_s(N, BAUD) + 1.5
    assert first is not None and first - t0 < floor_s(N, BAUD) / 2


@pytest.mark.parametrize("kind", KINDS)
def test_without_a_baud_rate_the_port_is_not_paced(kind: str) -> None:
    line = SerialLine()
    port = open_port(line, kind)
    try:
        with open_transport(port.url) as host:
            data = os.urandom(N)
            t0 = time.monotonic()
            host.send(data)
            got, times = _card_receives(line, N, timeout=5)
            assert got == data
            assert times[-1] - t0 < floor_s(N, BAUD) / 2
    finally:
        port.close()


def test_a_fast_host_is_held_back_not_buffered_without_bound() -> None:
    # 48 KB at 4 Mbaud (0.12 s): the pump stops reading the socket while RX_LIMIT bytes are
    # in flight, so the rest waits in the OS buffer as it would in front of a real UART.
    baud, n = 4_000_000, 48 * 1024
    line = SerialLine()
    port = open_port(line, "tcp", baud=baud)
    in_flight: list[int] = []
    line.on_input.append(lambda: in_flight.append(len(port._rx or b"")))
    try:
        with open_transport(port.url, baud) as host:
            data = os.urandom(n)
            t0 = time.monotonic()
            host.send(data)
            got, times = _card_receives(line, n, timeout=10)
    finally:
        port.close()
    assert got == data
    assert times[-1] - t0 >= floor_s(n, baud)
    assert max(in_flight) <= RX_LIMIT + 4096  # one read of the socket beyond the limit


@pytest.mark.parametrize("baud", [None, BAUD])
def test_a_port_closes_with_its_client_still_attached(baud: int | None) -> None:
    line = SerialLine()
    port = open_port(line, "tcp", baud=baud)
    with open_transport(port.url, BAUD) as host:
        host.send(b"ping")
        assert _card_receives(line, 4, timeout=5)[0] == b"ping"
        port.close()  # the client is still connected: no error, the socket is closed
        with pytest.raises(TransportError):
            for _ in range(50):
                host.send(b"x" * 4096)
                time.sleep(0.01)


# --- through the Emulator API and `dsc emulator` ---

def test_emulator_baud_paces_the_service_protocol() -> None:
    with Emulator(key=KEY, serial_number="DSC00009600", serial="tcp", baud=BAUD) as card:
        assert card.baud == BAUD
        assert card.serial_url is not None
        with open_transport(card.serial_url, BAUD) as t:
            client = CardClient(t)
            t0 = time.monotonic()
            info = client.info()
            elapsed = time.monotonic() - t0
    assert info.serial_number == "DSC00009600"
    on_wire = client.bytes_sent + client.bytes_received
    assert on_wire > 20
    assert elapsed >= floor_s(on_wire, BAUD)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"serial": "tcp", "baud": 0}, "baud must be a positive whole number"),
    ({"serial": "tcp", "baud": 115200.0}, "baud must be a positive whole number"),
    ({"baud": 115200}, "give serial= too"),
])
def test_emulator_refuses_a_bad_baud_before_booting(kwargs: dict[str, object],
                                                    message: str) -> None:
    with pytest.raises(EmulatorError, match=message):
        Emulator(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("argv", "message"), [
    (["--serial", "tcp", "--baud", "0"], "--baud 0: give a positive number"),
    (["--serial", "tcp", "--baud", "-300"], "--baud -300: give a positive number"),
    (["--headless", "--baud", "9600"], "--baud paces the serial port: give --serial"),
])
def test_cli_refuses_a_bad_baud(argv: list[str], message: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert dsc_main(["emulator", "--headless", *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_baud_paces_the_port(tmp_path: Path) -> None:
    key_file = tmp_path / "seed.hex"
    key_file.write_text(KEY.hex())
    baud = 2400
    proc = subprocess.Popen(
        [sys.executable, "-m", "host_tools", "emulator", "--headless", "--serial", "tcp",
         "--baud", str(baud), "--key-file", str(key_file), "--serial-number", "DSC00002400"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serial: socket://127.0.0.1:"), line
        with open_transport(line.split(" ", 1)[1].strip(), baud) as t:
            client = CardClient(t)
            t0 = time.monotonic()
            assert client.info().serial_number == "DSC00002400"
            elapsed = time.monotonic() - t0
        assert elapsed >= floor_s(client.bytes_sent + client.bytes_received, baud)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
