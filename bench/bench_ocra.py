"""OCRA response cost on CPython and both MicroPython VMs (the unix port and the wasm build).

Runs bench/mp_ocra.py on each VM (as tests/mpvm.py runs the conformance scripts) and reports,
per VM and suite, the time per response and the heap allocated per response. The suites: the
card's default `OCRA-1:HOTP-SHA256-8:QN06-PSHA1`, a SHA-1 one and a SHA-512 one; where a VM's
hashlib lacks a hash the firmware's pure-Python fallback runs, and `pure` names those hashes.
The allocation target is at most 4 KB per response on the VMs for the default suite.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import mpvm  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "mp_ocra.py"
TARGET_BYTES = 4096


def run_vm(vm: str) -> dict[str, Any]:
    result = mpvm.run(vm, SCRIPT, timeout=600, paths=(mpvm.FIRMWARE,))
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"bench/mp_ocra.py failed on {vm}:\n{result.stdout}\n{result.stderr}")
    data: dict[str, Any] = json.loads(lines[-1])
    return data


def main() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for vm in mpvm.VMS:
        data = run_vm(vm)
        figures[f"{vm}.native_hashes"] = ",".join(data["native_hashes"]) or "-"
        for label in ("default", "sha1", "sha512"):
            case = data[label]
            key = f"{vm}.{label}"
            figures[f"{key}.suite"] = case["suite"]
            figures[f"{key}.us_per_response"] = case["us_per_response"]
            figures[f"{key}.bytes_per_response"] = case["bytes_per_response"]
            figures[f"{key}.bytes_per_response_suite_as_text"] = \
                case["bytes_per_response_suite_as_text"]
            figures[f"{key}.pure"] = ",".join(case["pure_hashes_used"]) or "-"
        if "card_hmac" in data:  # CPython: hmac.digest against the card's HMAC, same suite
            card = data["card_hmac"]["us_per_response"]
            figures[f"{vm}.default_card_hmac.us_per_response"] = card
            figures[f"{vm}.default_card_hmac.bytes_per_response"] = \
                data["card_hmac"]["bytes_per_response"]
            figures[f"{vm}.hmac_digest_speedup"] = round(
                card / max(data["default"]["us_per_response"], 1), 1)
    vms = [vm for vm in mpvm.VMS if vm != "cpython"]
    worst = max(figures[f"{vm}.default.bytes_per_response"] for vm in vms)
    figures["default_bytes_per_response_worst_vm"] = worst
    figures["default_within_4KB_target"] = worst <= TARGET_BYTES
    figures["note"] = ("bytes: gc.mem_alloc() delta over one response with the collector off "
                       "(MicroPython); tracemalloc peak (CPython); the suite parsed once, as the "
                       "card does, unless *_suite_as_text")
    return figures


if __name__ == "__main__":
    for k, v in main().items():
        print(f"{k}: {v}")
