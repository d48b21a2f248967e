"""The same registry on PostgreSQL: life cycle, and an exact failure count under concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from dsc import ocra
from regkit import SUITE, Clock

from provisioning import audit, schema, support, verification
from provisioning.registry import Registry

pytestmark = pytest.mark.postgres


def _setup(url: str, key: Path, clock: Clock) -> tuple[Registry, str, bytes]:
    reg, _, applied = Registry.init(url, key, clock=clock, operator="pg")
    assert applied == schema.VERSION
    serial = reg.allocate_serial(SUITE)
    seed = b"\x07" * 32
    reg.confirm_provisioned(serial, seed=seed, admin_key=b"A" * 32, suite=SUITE)
    support.assign(reg, serial, "alice", "1234")
    return reg, serial, seed


def test_login_and_life_cycle_on_postgres(pg_url: str, tmp_path: Path) -> None:
    clock = Clock()
    reg, serial, seed = _setup(pg_url, tmp_path / "k", clock)
    with reg:
        ch = verification.issue_challenge(reg, "alice")
        resp = ocra.response(SUITE, seed, ch.challenge, pin="1234")
        assert verification.verify(reg, "alice", ch.id, resp).accepted
        assert verification.verify(reg, "alice", ch.id, resp).reason == "already used"
        assert reg.card(serial).status == "active"
        reg.rotate_key()
        assert reg.seed(serial) == seed
        assert audit.verify(reg.db, reg.sealer)[0] > 5
    with Registry.open(pg_url, tmp_path / "k", clock=clock) as again:
        assert again.card(serial).users == ("alice",)


def test_failure_count_is_exact_with_parallel_workers(pg_url: str, tmp_path: Path) -> None:
    """40 wrong responses at once: exactly 10 count and lock, the other 30 find the lock."""
    clock = Clock()
    reg, _, _ = _setup(pg_url, tmp_path / "k", clock)
    reg.set_policy("max_open_challenges", 40)  # the caps (5 open, 20 per 10 min) let this many
    reg.set_policy("challenge_rate", 40)
    challenges = [verification.issue_challenge(reg, "alice").id for _ in range(40)]
    reg.close()
    outcomes: list[verification.Outcome] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(ids: list[str]) -> None:
        with Registry.open(pg_url, tmp_path / "k", clock=clock, operator="w") as mine:
            start.wait()
            for cid in ids:
                out = verification.verify(mine, "alice", cid, "00000000")
                with lock:
                    outcomes.append(out)

    threads = [threading.Thread(target=worker, args=(challenges[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reasons = sorted(o.reason or "" for o in outcomes)
    assert reasons.count("wrong") == 10 and reasons.count("locked") == 30
    remaining = sorted(o.attempts_remaining for o in outcomes if o.reason == "wrong")
    assert remaining == list(range(10))
    with Registry.open(pg_url, tmp_path / "k", clock=clock) as reg:
        view = support.user_view(reg, "alice")
        assert view["status"] == "locked"
        audit.verify(reg.db, reg.sealer)  # one chain, no entry lost to the races
        verifies = reg.db.one("SELECT COUNT(*) AS n FROM audit WHERE action = 'verify'")
        assert verifies is not None and verifies["n"] == 40
