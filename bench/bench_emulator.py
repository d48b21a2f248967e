"""Emulator speed: a whole login (power on -> response) in virtual time on both runtimes,
and boot to PIN> (firmware start-up plus the steps through the POWER hold, whose 1.5 s are
virtual and cost no wall time). Targets: login <= 200 ms on CPython, <= 2 s on MicroPython.
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
            t0 = time.perf_counter()
            shown = _login(card)
            logins.append(time.perf_counter() - t0)
            login_steps = card.scheduler.steps - steps
            assert shown.replace(" ", "").isdigit(), shown
            boots.append(_boot_to_pin(card))
        calls = getattr(card.runtime, "calls", None)
    figures: dict[str, Any] = {
        f"{name}_login_ms": round(statistics.median(logins) * 1000, 1),
        f"{name}_boot_to_pin_ms": round(statistics.median(boots) * 1000, 1),
        f"{name}_steps_per_login": login_steps,
    }
    if calls is not None:
        figures[f"{name}_bridge_calls_total"] = calls
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
    figures["targets"] = "login <= 200 ms (cpython), <= 2000 ms (micropython)"
    return figures


if __name__ == "__main__":
    for k, v in main().items():
        print(f"{k}: {v}")
