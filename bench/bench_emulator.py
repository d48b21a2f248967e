"""Emulator speed: a whole login (power on -> response) in virtual time on both runtimes,
and boot to PIN> (firmware start-up plus the steps through the POWER hold, whose 1.5 s are
virtual and cost no wall time). The figures are wall times on the host (the login's ~3 s of
virtual key presses cost none of it). Targets: login <= 200 ms on CPython, <= 100 ms on
MicroPython on an idle machine.

On the MicroPython runtime each step and each hardware call that needs an answer is a round
trip over the bridge's pipes (6-50 us each, more on a loaded machine): `bridge_round_trips_per_login`
counts them (steps included), `bridge_messages_per_login` every message the emulator handled
(queued pin writes, serial output and LED changes travel without an answer).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from emulator import Emulator

KEY = bytes(range(32))
RUNS = {"cpython": 20, "micropython": 5}


def _login(card: Emulator) -> str:
    card.hold("POWER", 1500)
    card.type("1234")
    card.press("OK")
    card.type("123456")
    card.press("OK")
    return card.screen_text()


def _boot_to_pin(card: Emulator) -> float:
    t0 = time.perf_counter()
    card.power_cut()  # a cold boot: on micropython a new VM, imports and App start-up
    card.hold("POWER", 1500)
    assert card.screen_text() == "PIN>"
    return time.perf_counter() - t0


def _runtime(name: str) -> dict[str, Any]:
    logins, boots = [], []
    with Emulator(runtime=name, key=KEY) as card:
        for _ in range(RUNS[name]):
            card.hold("POWER", 200)  # make sure it is off
            steps = card.scheduler.steps
            trips0 = getattr(card.runtime, "round_trips", 0)
            calls0 = getattr(card.runtime, "calls", 0)
            t0 = time.perf_counter()
            shown = _login(card)
            logins.append(time.perf_counter() - t0)
            login_steps = card.scheduler.steps - steps
            login_trips = getattr(card.runtime, "round_trips", 0) - trips0
            login_calls = getattr(card.runtime, "calls", 0) - calls0
            assert shown.replace(" ", "").isdigit(), shown
            boots.append(_boot_to_pin(card))
        bridged = hasattr(card.runtime, "round_trips")
    figures: dict[str, Any] = {
        f"{name}_login_ms": round(statistics.median(logins) * 1000, 1),
        f"{name}_login_ms_max": round(max(logins) * 1000, 1),
        f"{name}_boot_to_pin_ms": round(statistics.median(boots) * 1000, 1),
        f"{name}_steps_per_login": login_steps,
    }
    if bridged:
        figures[f"{name}_bridge_round_trips_per_login"] = login_trips
        figures[f"{name}_bridge_messages_per_login"] = login_calls
    return figures


def _provision_ms() -> float:
    t0 = time.perf_counter()
    with Emulator(key=KEY):
        pass
    return round((time.perf_counter() - t0) * 1000, 1)


def main() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name in RUNS:
        figures.update(_runtime(name))
    figures["cpython_create_and_provision_ms"] = _provision_ms()
    figures["targets"] = "login <= 200 ms (cpython), <= 100 ms (micropython, idle machine)"
    return figures


if __name__ == "__main__":
    for k, v in main().items():
        print(f"{k}: {v}")
