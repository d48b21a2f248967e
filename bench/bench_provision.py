"""Provisioning one card end to end over its serial port at 115200 baud.

INFO, PROVISION (blank card, in the clear), AUTH (two round trips) and TEST, from the host client
to an emulated card's pty, on both emulator runtimes; then re-provisioning the same card (INFO,
AUTH, PROVISION sealed in the session, AUTH with the new admin key, TEST), the "reprov_" figures. The emulator paces its port like a UART
(`Emulator(serial="pty", baud=115200)`: 10 bit times per byte, 8N1, each direction), so the
wall time includes the line. Figures: bytes on the wire each way (counted by the card's port),
wall time per card, and its ratio to the line-rate floor (the time the bytes alone need, the
exchange being strictly request then response). The same run on an unpaced port shows what the
line adds. Target: <= 1 s per card.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from emulator import Emulator
from emulator.serialport import BITS_PER_BYTE
from host_tools.client import CardClient
from host_tools.transport import open_transport

BAUD = 115200
CARDS = 5
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"


Run = tuple[float, int, int]  # wall seconds, bytes host->card, bytes card->host


def provision_one(card: Emulator, serial_number: str) -> tuple[Run, Run]:
    """The blank card's provisioning, then its re-provisioning inside an AUTH session."""
    assert card.serial_url
    seed, admin = os.urandom(32), os.urandom(32)
    line = card.board.serial
    with CardClient(open_transport(card.serial_url, BAUD)) as client:

        def measure(steps: Any) -> Run:
            sent0, received0 = line.bytes_in, line.bytes_out
            host0, host1 = client.bytes_sent, client.bytes_received
            t0 = time.perf_counter()
            steps()
            wall = time.perf_counter() - t0
            sent, received = line.bytes_in - sent0, line.bytes_out - received0
            assert (sent, received) == (client.bytes_sent - host0, client.bytes_received - host1)
            return wall, sent, received

        def first() -> None:
            assert not client.info().provisioned
            client.provision(serial_number, SUITE, seed, admin)
            client.authenticate(admin)
            client.test("123456", "1234")

        def again() -> None:
            assert client.info().provisioned
            client.authenticate(admin)
            client.provision(serial_number, SUITE, seed[::-1], admin[::-1])
            client.authenticate(admin[::-1])
            client.test("123456", "1234")

        return measure(first), measure(again)


def run(runtime: str, baud: int | None) -> tuple[list[Run], list[Run]]:
    firsts, agains = [], []
    for i in range(CARDS):
        with Emulator(runtime=runtime, serial="pty", baud=baud) as card:
            first, again = provision_one(card, f"BENCH{i:06d}")
        firsts.append(first)
        agains.append(again)
    return firsts, agains


def summary(prefix: str, paced: list[Run], unpaced: list[Run]) -> dict[str, Any]:
    walls = [r[0] for r in paced]
    _, sent, received = paced[-1]
    floor = (sent + received) * BITS_PER_BYTE / BAUD
    median = statistics.median(walls)
    return {f"{prefix}_bytes_host_to_card": sent, f"{prefix}_bytes_card_to_host": received,
            f"{prefix}_seconds_per_card_median": round(median, 3),
            f"{prefix}_seconds_per_card_max": round(max(walls), 3),
            f"{prefix}_line_rate_floor_s": round(floor, 4),
            f"{prefix}_ratio_to_floor": round(median / floor, 2),
            f"{prefix}_unpaced_seconds_per_card_median":
                round(statistics.median(r[0] for r in unpaced), 3)}


def figures(runtime: str) -> dict[str, Any]:
    firsts, agains = run(runtime, BAUD)
    unpaced_firsts, unpaced_agains = run(runtime, None)
    return {**summary(runtime, firsts, unpaced_firsts),
            **summary(f"{runtime}_reprov", agains, unpaced_agains)}


def main() -> dict[str, Any]:
    result: dict[str, Any] = {"baud": BAUD, "cards_per_runtime": CARDS, "target_s": 1.0}
    for runtime in ("cpython", "micropython"):
        result.update(figures(runtime))
    return result


if __name__ == "__main__":
    for k, v in main().items():
        print(f"{k}: {v}")
