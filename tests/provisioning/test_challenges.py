"""Issue 9, item 1: an observed login cannot be replayed by asking for challenges until the
observed one comes back.

The permutation is tested over its whole domain (10^6 challenges of QN06: no value twice);
the registry path over a smaller count on both databases; then the end of the space, the
limits on issuing, and the security code card's cells."""

from __future__ import annotations

import pytest
from regkit import Env

from provisioning import audit, fpe, support, temporary, verification
from provisioning.errors import ChallengeLimitError, TamperedRowError, UserStateError


def test_the_permutation_never_repeats_over_all_million_challenges() -> None:
    perm = fpe.DigitPermutation(fpe.challenge_key(b"\x01" * 32, "DSC00000001", 1), 6)
    seen = bytearray(perm.size)
    for n in range(perm.size):
        seen[perm.encrypt(n)] = 1
    assert perm.size == 10**6 and seen.count(1) == 10**6  # every value exactly once


@pytest.mark.parametrize("digits", [4, 5, 7])
def test_the_permutation_is_a_bijection_for_odd_and_short_lengths(digits: int) -> None:
    perm = fpe.DigitPermutation(b"k" * 32, digits)
    if digits <= 5:
        assert sorted(perm.encrypt(n) for n in range(perm.size)) == list(range(perm.size))
    for n in (0, 1, 4711, perm.size - 1):
        assert perm.decrypt(perm.encrypt(n)) == n
        assert len(perm.challenge(n)) == digits


def test_the_permutation_depends_on_seed_serial_and_generation() -> None:
    def first(seed: bytes, serial: str, gen: int) -> list[str]:
        perm = fpe.DigitPermutation(fpe.challenge_key(seed, serial, gen), 6)
        return [perm.challenge(n) for n in range(8)]

    base = first(b"\x01" * 32, "DSC00000001", 1)
    assert base != first(b"\x02" * 32, "DSC00000001", 1)
    assert base != first(b"\x01" * 32, "DSC00000002", 1)
    assert base != first(b"\x01" * 32, "DSC00000001", 2)
    assert len(set(base)) == 8 and base != sorted(base)  # not a visible counter


def _generous(env: Env) -> None:
    env.reg.set_policy("challenge_rate", 10_000)
    env.reg.set_policy("max_open_challenges", 1000)


def test_the_replay_attack_finds_no_repeat(both: Env) -> None:
    """Observe one login, then ask for fresh challenges: the observed one never returns."""
    env = both
    serial = env.active()
    _generous(env)
    observed = verification.issue_challenge(env.reg, "alice")
    response = env.answer(serial, observed.challenge)
    assert verification.verify(env.reg, "alice", observed.id, response).accepted
    issued = {observed.challenge}
    for _ in range(1500):
        ch = verification.issue_challenge(env.reg, "alice")
        assert len(ch.challenge) == 6 and ch.challenge.isdigit()
        assert ch.challenge not in issued, "a challenge came back"
        issued.add(ch.challenge)
        env.clock.advance(1)  # keep the open ones expiring: 300 s, at most 1000 open
    row = env.reg.card_row(serial)
    assert int(row["challenges_issued"]) == 1501
    # the values are the card's permutation in order: the registry walks it, no repeat
    perm = fpe.DigitPermutation(fpe.challenge_key(env.seeds[serial], serial,
                                                  int(row["challenge_gen"])), 6)
    assert {perm.challenge(n) for n in range(1501)} == issued


def test_an_exhausted_card_must_be_given_a_new_seed(both: Env) -> None:
    env = both
    serial = env.active()
    card = env.reg.card_row(serial)
    env.reg.update("cards", card, challenges_issued=10**6 - 1)  # as after 999,999 challenges
    last = verification.issue_challenge(env.reg, "alice")
    assert verification.verify(env.reg, "alice", last.id,
                               env.answer(serial, last.challenge)).accepted
    with pytest.raises(ChallengeLimitError, match="all 1000000 challenges") as e:
        verification.issue_challenge(env.reg, "alice")
    assert e.value.reason == "exhausted"
    assert audit.entries(env.reg.db, action="challenge")[-1].detail == {"reason": "exhausted"}
    # a new seed (a replacement card) starts a new permutation
    support.mark_lost(env.reg, serial)
    new = env.card()
    support.replace(env.reg, serial, new)
    assert verification.issue_challenge(env.reg, "alice").serial_number == new


def test_a_card_row_put_back_to_an_older_copy_is_caught_by_the_challenges_kept(both: Env
                                                                              ) -> None:
    """A saved copy of the card's row (valid MAC, lower count) would issue old challenges
    again: the challenges kept for a day show it."""
    env = both
    serial = env.active()
    saved = dict(env.reg.card_row(serial))
    observed = verification.issue_challenge(env.reg, "alice")
    verification.verify(env.reg, "alice", observed.id, env.answer(serial, observed.challenge))
    env.reg.db.execute("UPDATE cards SET challenges_issued = ?, mac = ? WHERE id = ?",
                       (saved["challenges_issued"], saved["mac"], saved["id"]))
    with pytest.raises(TamperedRowError, match="challenge count was put back"):
        verification.issue_challenge(env.reg, "alice")
    assert audit.entries(env.reg.db, action="integrity")[-1].outcome == "refused"


def test_open_challenges_are_capped_and_issuing_is_rate_limited(both: Env) -> None:
    env = both
    serial = env.active()
    open_ = [verification.issue_challenge(env.reg, "alice") for _ in range(5)]
    with pytest.raises(ChallengeLimitError, match="5 unanswered challenges") as e:
        verification.issue_challenge(env.reg, "alice")
    assert (e.value.reason, e.value.retry_after) == ("too many open", 300)
    assert verification.verify(env.reg, "alice", open_[0].id,
                               env.answer(serial, open_[0].challenge)).accepted
    verification.issue_challenge(env.reg, "alice")  # one answered: one more may be open
    # the rate: 20 per 10 minutes, answered or not
    env.clock.advance(300)
    for _ in range(14):
        ch = verification.issue_challenge(env.reg, "alice")
        verification.verify(env.reg, "alice", ch.id, env.answer(serial, ch.challenge))
    with pytest.raises(ChallengeLimitError, match="20 challenges in the last 600 s") as e:
        verification.issue_challenge(env.reg, "alice")
    assert (e.value.reason, e.value.retry_after) == ("rate limited", 300)
    refused = [x for x in audit.entries(env.reg.db, action="challenge")]
    assert [x.detail["reason"] for x in refused] == ["too many open", "rate limited"]
    env.clock.advance(300)
    assert verification.issue_challenge(env.reg, "alice").serial_number == serial


def _cells_of(text: str) -> set[int]:
    return {temporary._cell_index(c) for c in text.split()}


def test_new_cells_never_pair_two_revealed_cells() -> None:
    seen = (1 << 64) - 1 - (1 << 10)  # every cell revealed but one
    for _ in range(200):
        cells = temporary.new_cells(seen)
        assert cells is not None and 10 in _cells_of(cells)
    assert temporary.new_cells((1 << 64) - 1) is None


def test_an_answered_cell_pair_is_never_asked_again(both: Env) -> None:
    env = both
    env.active()
    _generous(env)
    grid, _ = temporary.issue_security_card(env.reg, "alice")
    ch = verification.issue_challenge(env.reg, "alice")
    assert ch.cells is not None
    answer = "".join(grid[temporary._cell_index(c)] for c in ch.cells.split())
    out = verification.verify(env.reg, "alice", ch.id, answer)
    assert (out.accepted, out.method) == (True, "security-card")
    answered = _cells_of(ch.cells)
    for _ in range(600):  # the issue's attack found the pair again after about 600
        again = verification.issue_challenge(env.reg, "alice")
        assert again.cells is not None and not _cells_of(again.cells) <= answered
        env.clock.advance(1)


def test_a_used_up_security_code_card_says_so(both: Env) -> None:
    env = both
    serial = env.active()
    temporary.issue_security_card(env.reg, "alice")
    support.mark_lost(env.reg, serial)  # no card left: the grid is the only way in
    row = env.reg.db.one("SELECT * FROM temp_access")
    assert row is not None
    env.reg.update("temp_access", row, cells_seen="f" * 16)
    with pytest.raises(UserStateError, match=r"revealed every cell.*dsc security-card alice"):
        verification.issue_challenge(env.reg, "alice")


def test_counter_suites_walk_the_permutation_too(both: Env) -> None:
    env = both
    suite = "OCRA-1:HOTP-SHA1-6:C-QN08"
    serial = env.card(suite)
    support.assign(env.reg, serial, "carol", None)
    values = {verification.issue_challenge(env.reg, "carol").challenge for _ in range(5)}
    assert len(values) == 5 and all(len(v) == 8 for v in values)
