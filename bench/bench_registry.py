"""Registry benchmarks: verifications per second and provisioning time per card.

- `bare_ocra_checks_per_s`: the OCRA check alone (seed and PIN material in memory).
- `sqlite_verifications_per_s`: `verification.verify` on a SQLite registry, one transaction
  each: user row, single-use challenge, unseal seed and PIN (AES-GCM), OCRA, failure counter
  (every fifth response is wrong, so the counter is written and cleared), audit entry.
  Target: >= 5,000/s on one core.
- `postgres_verifications_per_s`: the same on PostgreSQL (when DSC_TEST_PG_URL is set).
- `postgres_round_trips_per_verification` (accepted), `..._per_rejected_verification` (a wrong
  response, counted), `..._per_challenge_issued` (`issue_challenge`) and, through the
  service's functions, `..._per_service_issuance` (`policy.issue`) and
  `..._per_service_verification` (`policy.respond`): client-server round trips, counted on
  the wire (`Database.round_trips`: libpq's protocol trace of the connection, one per turn —
  messages sent, then the server's answer waited for; `BEGIN` and `COMMIT` included).
- `postgres_parallel.N_workers_per_s`: N processes, each with its own connection and its own
  user and card, verifying at once (bounded: `PAR_N` each, or `PAR_SECONDS`); the total rate.
  This is what a service with N worker processes sees of the registry: with a single lock
  every transaction needs, the rate cannot grow with N.
- `provision_seconds_per_card`: INFO, PROVISION, AUTH, TEST and the registry record against
  a blank emulated card over its pty (the emulator runs on the wall clock).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dsc import ocra

from provisioning import ocra_check, policy, provisioner, support, verification
from provisioning.registry import Registry

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
N = 3000
PAR_WORKERS = (1, 2, 4, 8)
PAR_N = 600          # verifications per worker at most ...
PAR_SECONDS = 8.0    # ... and at most this long


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


@contextmanager
def pg_database(base: str, prefix: str = "dsc_bench") -> Iterator[str]:
    """A fresh PostgreSQL database next to `base` (a URL), dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _postgres(tmp: Path) -> dict[str, Any] | None:
    base = os.environ.get("DSC_TEST_PG_URL")
    if not base:
        return None
    out: dict[str, Any] = {}
    with pg_database(base) as url:
        out["postgres_verifications_per_s"] = round(_verifications(url, tmp / "pg.key"))
    with pg_database(base) as url:
        trips = round_trips(url, tmp / "rt.key")
        out["postgres_round_trips_per_verification"] = trips["verification"]
        out["postgres_round_trips_per_rejected_verification"] = trips["rejected_verification"]
        out["postgres_round_trips_per_challenge_issued"] = trips["challenge_issuance"]
        out["postgres_round_trips_per_service_issuance"] = trips["service_issuance"]
        out["postgres_round_trips_per_service_verification"] = trips["service_verification"]
    for workers in PAR_WORKERS:
        with pg_database(base) as url:
            rate = _parallel(url, tmp / f"par{workers}.key", workers)
        out[f"postgres_parallel.{workers}_workers_per_s"] = round(rate)
    one = out["postgres_parallel.1_workers_per_s"]
    out["postgres_parallel.scaling_8_vs_1"] = round(
        out[f"postgres_parallel.{PAR_WORKERS[-1]}_workers_per_s"] / max(one, 1), 2)
    return out


def raise_caps(reg: Registry) -> None:
    """The per-user challenge caps raised to their bounds: a bench issues thousands."""
    reg.set_policy("challenge_rate", 10_000)
    reg.set_policy("max_open_challenges", 1000)


def _enrol(reg: Registry, user: str) -> bytes:
    serial = reg.allocate_serial(SUITE)
    seed = os.urandom(32)
    reg.confirm_provisioned(serial, seed=seed, admin_key=os.urandom(32), suite=SUITE)
    support.assign(reg, serial, user, "1234")
    return seed


def round_trips(url: str, key_file: Path) -> dict[str, int]:
    """Round trips of one accepted and one rejected verification, and of issuing a challenge
    (the second of each: caches are warm), counted on the wire (`Database.round_trips`)."""
    reg, _, _ = Registry.init(url, key_file, operator="bench")
    out: dict[str, int] = {}
    with reg:
        seed = _enrol(reg, "alice")
        for _ in range(2):
            with reg.db.round_trips() as issuing:
                ch = verification.issue_challenge(reg, "alice")
            resp = ocra.response(SUITE, seed, ch.challenge, pin="1234")
            with reg.db.round_trips() as accepted:
                assert verification.verify(reg, "alice", ch.id, resp).accepted
            ch = verification.issue_challenge(reg, "alice")
            with reg.db.round_trips() as rejected:
                assert not verification.verify(reg, "alice", ch.id, "00000000").accepted
            with reg.db.round_trips() as service_issuing:
                ch = policy.issue(reg, "alice", client="bench").challenge
            resp = ocra.response(SUITE, seed, ch.challenge, pin="1234")
            with reg.db.round_trips() as service_verifying:
                assert policy.respond(reg, ch.id, resp, client="bench").accepted
        out["verification"] = accepted[0]
        out["rejected_verification"] = rejected[0]
        out["challenge_issuance"] = issuing[0]
        out["service_issuance"] = service_issuing[0]
        out["service_verification"] = service_verifying[0]
    return out


def _par_worker(url: str, key_file: str, user: str, seed: bytes, work: list[tuple[str, str]],
                start: Any, done: Any) -> None:
    with Registry.open(url, Path(key_file), operator=user) as reg:
        start.wait()
        t0, n = time.perf_counter(), 0
        for cid, resp in work:
            verification.verify(reg, user, cid, resp)
            n += 1
            if time.perf_counter() - t0 > PAR_SECONDS:
                break
        done.put((n, time.perf_counter()))


def _parallel(url: str, key_file: Path, workers: int) -> float:
    """Total verifications/s of `workers` processes at once, each on its own user."""
    reg, _, _ = Registry.init(url, key_file, operator="bench")
    jobs = []
    with reg:
        raise_caps(reg)
        for w in range(workers):
            user = f"user{w}"
            seed = _enrol(reg, user)
            work = []
            for i in range(PAR_N):
                ch = verification.issue_challenge(reg, user)
                resp = "00000000" if i % 5 == 4 else ocra.response(SUITE, seed, ch.challenge,
                                                                   pin="1234")
                work.append((ch.id, resp))
            jobs.append((user, seed, work))
    ctx = multiprocessing.get_context("fork")
    start, done = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [ctx.Process(target=_par_worker, args=(url, str(key_file), user, seed, work,
                                                   start, done))
             for user, seed, work in jobs]
    for proc in procs:
        proc.start()
    start.wait()
    t0 = time.perf_counter()
    results = [done.get(timeout=PAR_SECONDS * 4 + 60) for _ in procs]
    for proc in procs:
        proc.join()
    total: int = sum(n for n, _ in results)
    end: float = max(t for _, t in results)  # perf_counter is system-wide (CLOCK_MONOTONIC)
    return total / (end - t0)


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
        **(pg or {"postgres": "skipped (DSC_TEST_PG_URL unset)"}),
        "provision_seconds_per_card": round(prov, 3),
        "target_sqlite_per_s": 5000,
    }
