"""Regenerate tests/vectors/ocra-extra.json: OCRA values beyond RFC 6287's tables.

Each case exercises a part of the suite grammar the RFC's tables leave out (QH with an odd
length, QA, truncation 0, S and T parameters, the largest counter). The expected values are
computed here by the independent implementation in tests/ocra_reference.py, never by dsc.ocra:
    python tests/vectors/gen_extra.py            # rewrite the file
    python tests/vectors/gen_extra.py --check    # exit 1 if the file is out of date
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ocra_reference import reference_response  # noqa: E402

OUT = HERE / "ocra-extra.json"
K20 = b"12345678901234567890"
K32 = b"12345678901234567890123456789012"

# (suite, key, challenge, inputs, note)
CASES: list[tuple[str, bytes, str, dict[str, Any], str]] = [
    ("OCRA-1:HOTP-SHA256-8:QN06-PSHA1", K32, "123456", {"pin": "1234"}, "the card's default suite"),
    ("OCRA-1:HOTP-SHA1-6:QH08", K20, "0a1B2c3D", {}, "hex challenge, mixed case"),
    ("OCRA-1:HOTP-SHA1-6:QH08", K20, "abcde", {}, "odd hex length: the last digit is a high nibble"),
    ("OCRA-1:HOTP-SHA256-0:QA10", K32, "Hello 1234", {}, "truncation 0: the whole HMAC in hex"),
    ("OCRA-1:HOTP-SHA1-10:C-QN64-PSHA512-S064-T30S", K20, "1" * 64,
     {"counter": 2**64 - 1, "pin": "9876", "session": bytes(range(64)), "timestamp": 0x123456789},
     "every parameter at its largest"),
    ("OCRA-1:HOTP-SHA512-4:QN04-PSHA256-S001-T48H", K32, "0007",
     {"pin": "0000", "session": b"\xff", "timestamp": 5}, "shortest session, hour steps"),
]


def build() -> dict[str, Any]:
    vectors = []
    for suite, key, challenge, inputs, note in CASES:
        v: dict[str, Any] = {"suite": suite, "key": key.hex(), "challenge": challenge,
                             "expected": reference_response(suite, key, challenge, **inputs),
                             "note": note}
        for name, value in inputs.items():
            v[name] = value.hex() if isinstance(value, bytes) else value
        vectors.append(v)
    return {
        "source": "computed by tests/ocra_reference.py (independent of dsc.ocra) via "
                  "tests/vectors/gen_extra.py",
        "notes": ["key and session are hex; timestamp is an integer count of time steps",
                  "counter is an integer; pin is the clear PIN"],
        "vectors": vectors,
    }


def main() -> int:
    text = json.dumps(build(), indent=1) + "\n"
    if "--check" in sys.argv[1:]:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
