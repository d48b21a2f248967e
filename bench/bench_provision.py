"""Provisioning one card end to end over its serial port at 115200 baud.

INFO, PROVISION (blank card, in the clear), AUTH (two round trips) and TEST, from the host client
to an emulated card's pty, on both emulator runtimes. The emulator's port has no baud rate, so
the host side models the line: every byte sent or received costs 10 bit times at 115200 baud
(8N1) before it counts as delivered. Figures: bytes on the wire each way, wall time per card, and
its ratio to the line-rate floor (the time the bytes alone need). Target: <= 1 s per card.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from emulator import Emulator
from host_tools.client import CardClient
from host_tools.transport import Transport, open_transport

BAUD = 115200
BITS_PER_BYTE = 10  # start + 8 data + stop
CARDS = 5
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"


class Throttled(Transport):
    """A transport that delivers bytes no faster than the serial line would."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner

    def send(self, data: bytes) -> None:
        time.sleep(len(data) * BITS_PER_BYTE / BAUD)
        self.inner.send(data)

    def receive(self, timeout: float) -> bytes:
        data = self.inner.receive(timeout)
        time.sleep(len(data) * BITS_PER_BYTE / BAUD)
        return data

    def close(self) -> None:
        self.inner.close()


def provision_one(port: str, serial_number: str) -> tuple[float, int, int]:
    seed, admin = os.urandom(32), os.urandom(32)
    with CardClient(Throttled(open_transport(port, BAUD))) as client:
        t0 = time.perf_counter()
        assert not client.info().provisioned
        client.provision(serial_number, SUITE, seed, admin)
        client.authenticate(admin)
        client.test("123456", "1234")
        wall = time.perf_counter() - t0
        return wall, client.bytes_sent, client.bytes_received


def run(runtime: str) -> dict[str, Any]:
    walls, sent, received = [], 0, 0
    for i in range(CARDS):
        with Emulator(runtime=runtime, serial="pty") as card:
            assert card.serial_url
            wall, s, r = provision_one(card.serial_url, f"BENCH{i:06d}")
        walls.append(wall)
        sent, received = s, r
    floor = (sent + received) * BITS_PER_BYTE / BAUD
    median = statistics.median(walls)
    return {f"{runtime}_bytes_host_to_card": sent, f"{runtime}_bytes_card_to_host": received,
            f"{runtime}_seconds_per_card_median": round(median, 3),
            f"{runtime}_seconds_per_card_max": round(max(walls), 3),
            f"{runtime}_line_rate_floor_s": round(floor, 4),
            f"{runtime}_ratio_to_floor": round(median / floor, 1)}


def main() -> dict[str, Any]:
    figures: dict[str, Any] = {"baud": BAUD, "cards_per_runtime": CARDS, "target_s": 1.0}
    for runtime in ("cpython", "micropython"):
        figures.update(run(runtime))
    return figures


if __name__ == "__main__":
    for k, v in main().items():
        print(f"{k}: {v}")
