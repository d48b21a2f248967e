"""The same registry on PostgreSQL: life cycle, an exact failure count under concurrency, and
the round trips of a verification (two: pipelined reads, pipelined writes) and its races."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from dsc import ocra
from regkit import SUITE, Clock

from provisioning import audit, schema, support, verification
from provisioning.errors import WriteConflict
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


# --- round trips (counted on the wire: Database.round_trips, libpq's protocol trace) -----------
def _warm(pg_url: str, tmp_path: Path) -> tuple[Registry, bytes, Clock]:
    """A registry whose connection has written an audit entry (its chain head is remembered)."""
    clock = Clock()
    reg, _, seed = _setup(pg_url, tmp_path / "k", clock)
    ch = verification.issue_challenge(reg, "alice")
    assert verification.verify(reg, "alice", ch.id, ocra.response(SUITE, seed, ch.challenge,
                                                                  pin="1234")).accepted
    return reg, seed, clock


def test_a_verification_takes_two_round_trips(pg_url: str, tmp_path: Path) -> None:
    """Reads with BEGIN, writes with COMMIT: accepted, rejected (counted) and accepted again
    (the failure run cleared) alike."""
    reg, seed, _ = _warm(pg_url, tmp_path)
    with reg:
        trips = []
        for response in (None, "00000000", None):
            ch = verification.issue_challenge(reg, "alice")
            typed = response or ocra.response(SUITE, seed, ch.challenge, pin="1234")
            with reg.db.round_trips() as count:
                outcome = verification.verify(reg, "alice", ch.id, typed)
            assert outcome.accepted is (response is None)
            trips.append(count[0])
        assert trips == [2, 2, 2]
        assert outcome.attempts_remaining is None
        assert reg.user_row("alice")["failures"] == 0
        entries = audit.entries(reg.db, action="verify")
        assert [e.outcome for e in entries[-3:]] == ["accepted", "rejected", "accepted"]
        assert entries[-2].detail["attempts_remaining"] == 9
        audit.verify(reg.db, reg.sealer)


def test_an_audit_head_moved_by_another_writer_is_read_again(pg_url: str,
                                                             tmp_path: Path) -> None:
    """Another connection appends to the chain this one wrote last: the head this one locks
    with its reads is gone, it locks the head as it now is (one round trip more) and the
    chain still verifies."""
    reg, seed, clock = _warm(pg_url, tmp_path)
    with reg, Registry.open(pg_url, tmp_path / "k", clock=clock, operator="other") as other:
        mine = audit._writer(reg.db).head
        assert mine is not None
        audit._writer(other.db).chain = mine[0]  # the other connection takes the same chain
        with other.db.transaction():
            other.log("test.race", "ok")
        moved = audit._writer(other.db).head
        assert moved is not None and moved[:2] == (mine[0], mine[1] + 1)
        ch = verification.issue_challenge(reg, "alice")
        resp = ocra.response(SUITE, seed, ch.challenge, pin="1234")
        with reg.db.round_trips() as count:
            assert verification.verify(reg, "alice", ch.id, resp).accepted
        assert count[0] == 3
        audit.verify(reg.db, reg.sealer)


def test_a_pipelined_audit_write_on_a_moved_head_fails(pg_url: str, tmp_path: Path) -> None:
    """The entry goes out with the head's move in one statement, not waited for: when the head
    is not as the writer believes, the statement fails (it does not insert nothing), and the
    transaction with it."""
    reg, _, _ = _warm(pg_url, tmp_path)
    with reg:
        before = audit.verify(reg.db, reg.sealer)
        w = audit._writer(reg.db)
        assert w.head is not None
        chain, place, digest = w.head
        with pytest.raises(WriteConflict), reg.db.transaction(pipeline=True):
            w.head, w.held_in = (chain, place - 1, digest), reg.db.serial  # a stale belief
            reg.log("test.stale", "ok")
        assert audit.verify(reg.db, reg.sealer) == before  # nothing was written
        with reg.db.transaction(pipeline=True):  # the head is read again: it goes through
            reg.log("test.fresh", "ok")
        assert audit.verify(reg.db, reg.sealer)[0] == before[0] + 1


@pytest.mark.parametrize("through", ["registry", "service"])
def test_a_row_changed_under_the_write_makes_the_verification_run_again(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, through: str) -> None:
    """Between the reads and the writes another connection changes the challenge row: the
    write conditional on the MAC read fails, the transaction rolls back and the verification
    runs again on the fresh row (one entry in the log, the chain intact). Through the service
    the whole of its transaction runs again, not the verification inside it."""
    from provisioning import policy

    reg, seed, clock = _warm(pg_url, tmp_path)
    ch = (verification.issue_challenge(reg, "alice") if through == "registry" else
          policy.issue(reg, "alice", client="c").challenge)
    resp = ocra.response(SUITE, seed, ch.challenge, pin="1234")
    calls = []
    real = verification.normalise

    def racing(response: str, forms: list[verification.Form]) -> str:
        calls.append(1)  # after the reads, before any write is sent
        if len(calls) == 1:
            with Registry.open(pg_url, tmp_path / "k", clock=clock, operator="o") as other:
                row = other.db.one("SELECT * FROM challenges WHERE id = ?", (ch.id,))
                assert row is not None
                other.update("challenges", row, expires_at=int(row["expires_at"]) + 1)
        return real(response, forms)

    monkeypatch.setattr(verification, "normalise", racing)
    with reg:
        before = audit.verify(reg.db, reg.sealer)[0]
        with reg.db.round_trips() as count:
            if through == "registry":
                assert verification.verify(reg, "alice", ch.id, resp).accepted
            else:
                assert policy.respond(reg, ch.id, resp, client="c").status == "accepted"
        assert len(calls) == 2
        if through == "registry":
            # reads, writes (refused), rollback; then reads, the head read again (a rollback
            # forgets it), writes
            assert count[0] == 6
        else:
            # the same through the service: its lookup goes with the reads, both times
            assert count[0] == 6
        used = reg.db.one("SELECT used_at FROM challenges WHERE id = ?", (ch.id,))
        assert used is not None and used["used_at"] is not None
        assert audit.verify(reg.db, reg.sealer)[0] == before + 1
        assert verification.verify(reg, "alice", ch.id, resp).reason == "already used"


def test_issuing_and_the_service_round_trips(pg_url: str, tmp_path: Path) -> None:
    """Its reads in one flush, the check that the card's next challenge is new, the insert,
    the writes with COMMIT; the service's issuance (client, address and device checks) 7, the
    service's verification 3 (its lookup, then the verification's two)."""
    from provisioning import policy

    reg, seed, _ = _warm(pg_url, tmp_path)
    with reg:
        counts = []
        for issue in (lambda: verification.issue_challenge(reg, "alice"),
                      lambda: policy.issue(reg, "alice", client="login-server").challenge):
            with reg.db.round_trips() as count:
                ch = issue()
            counts.append(count[0])
            row = reg.db.one("SELECT * FROM challenges WHERE id = ?", (ch.id,))
            assert row is not None and row["challenge"] == ch.challenge
        assert counts == [2, 2]
        card = reg.card_row(ch.serial_number or "")
        assert card["challenges_issued"] == 3  # _warm's, and these two
        resp = ocra.response(SUITE, seed, ch.challenge, pin="1234")
        with reg.db.round_trips() as count:
            assert policy.respond(reg, ch.id, resp, client="login-server").status == "accepted"
        again = policy.issue(reg, "alice", client="login-server").challenge
        with reg.db.round_trips() as wrong:
            answer = policy.respond(reg, again.id, "00000000", client="login-server")
        assert answer.status == "rejected" and answer.attempts_remaining == 9
        assert (count[0], wrong[0]) == (2, 2)
        audit.verify(reg.db, reg.sealer)


def test_the_services_issuance_checks_address_and_limit_in_its_two_round_trips(
        pg_url: str, tmp_path: Path) -> None:
    """The IP restriction and the withdrawal limits are read with the user's rows (one flush)
    and decide before anything is written; a refusal writes nothing but its audit entry."""
    from decimal import Decimal

    from provisioning import policy

    reg, _, _ = _warm(pg_url, tmp_path)
    with reg:
        policy.set_networks(reg, "alice", ["10.0.0.0/8"])
        policy.set_withdrawal_limit(reg, "dsc-card", 500)
        issued = reg.card_row(reg.db.one("SELECT serial_number FROM cards")["serial_number"])
        for kw, reason in (({"client_ip": "192.0.2.1"}, "ip-not-allowed"),
                           ({"client_ip": "10.1.2.3", "purpose": "withdrawal",
                             "amount": Decimal(900)}, "device-limit")):
            with pytest.raises(policy.PolicyRefusal) as e:
                policy.issue(reg, "alice", client="c", **kw)  # type: ignore[arg-type]
            assert e.value.reason == reason
            assert audit.entries(reg.db, action="challenge")[-1].detail["reason"] == reason
        assert reg.card_row(issued["serial_number"])["challenges_issued"] == \
            issued["challenges_issued"]  # nothing counted
        with reg.db.round_trips() as count:
            ok = policy.issue(reg, "alice", client="c", client_ip="10.1.2.3",
                              purpose="withdrawal", amount=Decimal(400))
        assert count[0] == 2 and ok.device_type == "dsc-card"
        remembered = reg.db.one("SELECT amount FROM api_challenges WHERE id = ?",
                                (ok.challenge.id,))
        assert remembered is not None and remembered["amount"] == "400"
        audit.verify(reg.db, reg.sealer)


def test_a_card_count_put_back_is_refused_in_the_write_flush(pg_url: str,
                                                              tmp_path: Path) -> None:
    """The check that the card's next challenge was never issued goes with the writes: when it
    finds the challenge, the flush raises the refusal (not a conflict to retry), nothing of the
    issuance stays, and the refusal is logged."""
    from provisioning import policy
    from provisioning.errors import TamperedRowError

    reg, _, _ = _warm(pg_url, tmp_path)
    with reg:
        serial = str(reg.db.one("SELECT serial_number FROM cards")["serial_number"])
        saved = dict(reg.card_row(serial))
        verification.issue_challenge(reg, "alice")
        reg.db.execute("UPDATE cards SET challenges_issued = ?, mac = ? WHERE id = ?",
                       (saved["challenges_issued"], saved["mac"], saved["id"]))
        challenges = reg.db.one("SELECT COUNT(*) AS n FROM challenges")["n"]
        for issue in (lambda: verification.issue_challenge(reg, "alice"),
                      lambda: policy.issue(reg, "alice", client="c").challenge):
            before = reg.db.one("SELECT COUNT(*) AS n FROM audit WHERE action = 'integrity'")
            with pytest.raises(TamperedRowError, match="challenge count was put back"):
                issue()
            after = reg.db.one("SELECT COUNT(*) AS n FROM audit WHERE action = 'integrity'")
            assert before is not None and after is not None
            assert after["n"] == before["n"] + 1  # refused once: not run again as a conflict
            assert audit.entries(reg.db, action="integrity")[-1].outcome == "refused"
            assert reg.db.one("SELECT COUNT(*) AS n FROM challenges")["n"] == challenges
            assert reg.card_row(serial)["challenges_issued"] == saved["challenges_issued"]
        assert reg.db.one("SELECT COUNT(*) AS n FROM api_challenges")["n"] == 0
        audit.verify(reg.db, reg.sealer)


def test_the_services_open_challenge_cap_is_exact_under_races(pg_url: str,
                                                              tmp_path: Path) -> None:
    """16 issuances at once through the service, 5 open challenges allowed: exactly 5 issued
    (the user's row is locked before the counts are read, in the same flush)."""
    from provisioning import policy
    from provisioning.errors import ChallengeLimitError

    clock = Clock()
    reg, _, _ = _setup(pg_url, tmp_path / "k", clock)
    reg.close()
    results: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker() -> None:
        with Registry.open(pg_url, tmp_path / "k", clock=clock, operator="w") as mine:
            start.wait()
            for _ in range(4):
                try:
                    policy.issue(mine, "alice", client="c")
                    out = "issued"
                except ChallengeLimitError as e:
                    out = e.reason or ""
                with lock:
                    results.append(out)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["issued"] * 5 + ["too many open"] * 11
    with Registry.open(pg_url, tmp_path / "k", clock=clock) as reg:
        rows = reg.db.one("SELECT COUNT(*) AS n FROM api_challenges")
        assert rows is not None and rows["n"] == 5
        card = reg.db.one("SELECT challenges_issued FROM cards")
        assert card is not None and card["challenges_issued"] == 5
        audit.verify(reg.db, reg.sealer)


def test_reads_sent_by_the_challenge_decide_only_for_its_own_user(pg_url: str,
                                                                  tmp_path: Path) -> None:
    """The verification's reads found from the challenge id (sent with the service's lookup)
    belong to the challenge's user: for any other user the challenge is unknown, as before."""
    reg, seed, _ = _warm(pg_url, tmp_path)  # the card active already (no activation)
    with reg:
        other = reg.allocate_serial(SUITE)
        reg.confirm_provisioned(other, seed=b"\x08" * 32, admin_key=b"B" * 32, suite=SUITE)
        support.assign(reg, other, "bob", "1234")
        ch = verification.issue_challenge(reg, "alice")
        resp = ocra.response(SUITE, seed, ch.challenge, pin="1234")
        with reg.db.transaction(pipeline=True):
            sent = verification.send_reads(reg, ch.id)
            out = verification.verify(reg, "bob", ch.id, resp, sent=sent)
        assert (out.accepted, out.reason, out.user) == (False, "unknown challenge", "bob")
        row = reg.db.one("SELECT used_at FROM challenges WHERE id = ?", (ch.id,))
        assert row is not None and row["used_at"] is None
        with reg.db.round_trips() as count, reg.db.transaction(pipeline=True):
            sent = verification.send_reads(reg, ch.id)
            assert verification.verify(reg, "alice", ch.id, resp, sent=sent).accepted
        assert count[0] == 2
        audit.verify(reg.db, reg.sealer)
