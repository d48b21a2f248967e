"""Registry benchmarks: verifications per second and provisioning time per card.

- `bare_ocra_checks_per_s`: the OCRA check alone (seed and PIN material in memory).
- `sqlite_verifications_per_s`: `verification.verify` on a SQLite registry, one transaction
  each: user row, single-use challenge, unseal seed and PIN (AES-GCM), OCRA, failure counter
  (every fifth response is wrong, so the counter is written and cleared), audit entry.
  Target: >= 5,000/s on one core.
- `postgres_verifications_per_s`: the same on PostgreSQL (when DSC_TEST_PG_URL is set).
- `provision_seconds_per_card`: INFO, PROVISION, AUTH, TEST and the registry record against
  a blank emulated card over its pty (the emulator runs on the wall clock).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from dsc import ocra

from provisioning import ocra_check, provisioner, support, verification
from provisioning.registry import Registry

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
N = 3000


def _bare() -> float:
    info = ocra_check.suite_info(SUITE)
    seed, material = b"\x01" * 32, ocra_check.pin_material("1234")
    good = ocra.response(SUITE, seed, "123456", pin="1234")
    t = time.perf_counter()
    for _ in range(N):
        ocra_check.match(info, seed, "123456", material, good)
    return N / (time.perf_counter() - t)


def _verifications(url: str, key_file: Path) -> float:
    reg, _, _ = Registry.init(url, key_file, operator="bench")
    with reg:
        serial = reg.allocate_serial(SUITE)
        seed = os.urandom(32)
        reg.confirm_provisioned(serial, seed=seed, admin_key=os.urandom(32), suite=SUITE)
        support.assign(reg, serial, "alice", "1234")
        reg.set_policy("challenge_rate", 10_000)  # the caps per user, raised to their bounds
        reg.set_policy("max_open_challenges", 1000)
        spent = 0.0
        for _ in range(0, N, 1000):  # at most 1000 open at once
            work = []
            for i in range(1000):
                ch = verification.issue_challenge(reg, "alice")
                resp = "00000000" if i % 5 == 4 else ocra.response(SUITE, seed, ch.challenge,
                                                                   pin="1234")
                work.append((ch.id, resp))
            t = time.perf_counter()
            for cid, resp in work:
                verification.verify(reg, "alice", cid, resp)
            spent += time.perf_counter() - t
        return N / spent


def _postgres(tmp: Path) -> float | None:
    base = os.environ.get("DSC_TEST_PG_URL")
    if not base:
        return None
    import psycopg

    name = f"dsc_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        return _verifications(base.rsplit("/", 1)[0] + "/" + name, tmp / "pg.key")
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _provisioning(tmp: Path, cards: int = 3) -> float:
    from emulator import Emulator
    from host_tools import admin_keys
    from provisioning import cardlink

    reg, _, _ = Registry.init(str(tmp / "prov.sqlite3"), tmp / "prov.key", operator="bench")
    total = 0.0
    with reg:
        for _ in range(cards):
            with Emulator(serial="pty") as card:
                assert card.serial_url is not None
                t = time.perf_counter()
                with cardlink.open_client(card.serial_url) as client:
                    provisioner.provision_one(reg, client, b"M" * 32, admin_keys.derive_admin_key,
                                              provisioner.Options())
                total += time.perf_counter() - t
    return total / cards


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bare = _bare()
        sqlite = _verifications(str(tmp / "bench.sqlite3"), tmp / "bench.key")
        pg = _postgres(tmp)
        prov = _provisioning(tmp)
    return {
        "bare_ocra_checks_per_s": round(bare),
        "sqlite_verifications_per_s": round(sqlite),
        "sqlite_vs_bare": round(sqlite / bare, 2),
        "postgres_verifications_per_s": round(pg) if pg else "skipped (DSC_TEST_PG_URL unset)",
        "provision_seconds_per_card": round(prov, 3),
        "target_sqlite_per_s": 5000,
    }
