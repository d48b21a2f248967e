"""Power cut at every flash event (every byte of every write, every rename and remove) of
provisioning, of a counter update and of an AUTH: the card must boot to the old or the new state.

Each test first runs the operation once to count its flash events, then replays it from the
same starting flash with the power failing just before event k, for every k."""

from __future__ import annotations

import pytest
from dsc import protocol as P
from dsc import session as S
from emuhelpers import COUNTER_SUITE, RUNTIMES, login, ocra_qn_psha1

from emulator import Emulator, PowerCut
from host_tools.client import CardClient

KEY = bytes(range(32))
ADMIN = bytes(range(100, 132))
NH = bytes(range(16))


def _provision(card: Emulator) -> None:
    CardClient(card.transport()).provision("DSC00000077", COUNTER_SUITE, KEY, ADMIN)


def test_every_cut_point_of_provisioning() -> None:
    with Emulator(admin_key=ADMIN) as card:
        blank = card.flash.snapshot()
        before = card.flash.events
        _provision(card)
        total = card.flash.events - before
        assert total >= 50  # a record is written byte by byte, then renamed
        outcomes = {"old": 0, "new": 0}
        for k in range(total):
            card.flash.restore(blank)
            card.power_cut()
            card.flash.cut_before(k)
            with pytest.raises(PowerCut):
                _provision(card)
            assert not card.flash.armed
            outcomes[_check_provisioning_outcome(card)] += 1
        assert outcomes["old"] and outcomes["new"], outcomes


def _check_provisioning_outcome(card: Emulator) -> str:
    info = CardClient(card.transport()).info()
    card.hold("POWER", 1500)
    screen = card.screen_text()
    if not info.provisioned:  # the old state: blank, and it can still be provisioned
        assert screen == "NOT\nPROVISIONED", screen
        card.hold("POWER", 200)
        _provision(card)
        return "old"
    assert info.serial_number == "DSC00000077"
    assert screen == "PIN>", screen
    card.hold("POWER", 200)
    assert login(card, "1234", "12345678") == ocra_qn_psha1(KEY, 8, "12345678", "1234", counter=0)
    card.hold("POWER", 200)
    return "new"


def _answer_with_cut(card: Emulator, k: int | None) -> None:
    card.hold("POWER", 1500)
    card.type("1234")
    card.press("OK")
    card.type("12345678")
    if k is not None:
        card.flash.cut_before(k)
    card.press("OK")


def test_every_cut_point_of_a_counter_update() -> None:
    with Emulator(key=KEY, suite=COUNTER_SUITE) as card:
        start = card.flash.snapshot()
        before = card.flash.events
        _answer_with_cut(card, None)
        total = card.flash.events - before
        assert total >= 50
        old = ocra_qn_psha1(KEY, 8, "12345678", "1234", counter=0)
        new = ocra_qn_psha1(KEY, 8, "12345678", "1234", counter=1)
        for k in range(total):
            card.flash.restore(start)
            card.power_cut()
            with pytest.raises(PowerCut):
                _answer_with_cut(card, k)
            assert card.screen_text() == ""  # cut before the response was shown
            card.advance(200)
            got = login(card, "1234", "12345678")
            # The rename is the last event, so every cut leaves the old record: counter 0
            # again, and its response was never shown. Never a broken card.
            assert got == old, k
            card.hold("POWER", 200)
        # Without a cut the saved counter moves on: the next login answers with counter 1.
        card.flash.restore(start)
        card.power_cut()
        _answer_with_cut(card, None)
        assert card.screen_text().replace(" ", "") == old
        card.hold("POWER", 200)
        assert login(card, "1234", "12345678") == new


# --- the AUTH counters (dsc.session.Throttle: "authfail") ---
def _frame_answer(card: Emulator, ftype: int, payload: bytes) -> tuple[int, dict[int, bytes]]:
    line = card.board.serial
    line.host_write(P.encode(ftype, 1, payload))
    card.scheduler.run_until(card.now() + 1000, lambda: line.card_pending() == 0)
    frames = P.Deframer().feed(line.host_read())
    assert len(frames) == 1, frames
    return frames[0][1], P.tlv_decode(frames[0][3])


def _begin(card: Emulator) -> tuple[int, dict[int, bytes]]:
    return _frame_answer(card, P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, NH)]))


def _finish(card: Emulator, nc: bytes, key: bytes) -> tuple[int, dict[int, bytes]]:
    proof = S.host_proof(key, NH, nc, card.serial_number)
    return _frame_answer(card, P.CMD_AUTH_FINISH, P.tlv_encode([(P.T_PROOF, proof)]))


def _counts(card: Emulator) -> tuple[int, int]:
    """(wrong proofs in a row, AUTH attempts ever) as the card shows them after a boot: the
    wait it asks for (delay_ms of the failures), then the count its nonce ends with."""
    rtype, f = _begin(card)
    failures = 0
    if rtype == P.RSP_ERROR:
        assert f[P.T_CODE][0] == P.ERR_AUTH_DELAY, f
        wait = P.to_uint(f[P.T_RETRY_MS], 4)
        failures = next(n for n in range(1, 24) if 0 <= S.delay_ms(n) - wait <= 50)
        card.advance(wait)
        rtype, f = _begin(card)
    assert rtype == P.CMD_AUTH_BEGIN | P.RSP_FLAG, f
    return failures, P.to_uint(f[P.T_NONCE][S.NONCE_RANDOM:], 4)


def _auth_with_cut(card: Emulator, start: dict[str, bytes], key: bytes, k: int | None) -> None:
    card.flash.restore(start)
    card.power_cut()
    card.advance(S.delay_ms(2))  # the wait of 2 failures restarts at boot
    rtype, f = _begin(card)
    assert rtype == P.CMD_AUTH_BEGIN | P.RSP_FLAG, f
    if k is not None:
        card.flash.cut_before(k)
    _finish(card, f[P.T_NONCE], key)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("board", ["pico", "pyboard"], ids=["littlefs", "fat"])
@pytest.mark.parametrize("right_key", [False, True], ids=["wrong-proof", "right-proof"])
def test_every_cut_point_of_an_auth_keeps_its_counts(board: str, runtime: str,
                                                      right_key: bool) -> None:
    # A wrong proof is counted (2 40 -> 3 41) before it is checked; a right one is counted,
    # then its failures are cleared (-> 0 41). A cut anywhere leaves one of those states, never
    # fewer attempts (the card's nonces would come round again) nor fewer failures than before.
    # FAT (the pyboard) replaces the file by remove + rename: a cut between them once left
    # only authfail.new, and the card booted with 0 0.
    with Emulator(board=board, runtime=runtime, key=KEY, admin_key=ADMIN) as card:
        assert card.flash.fat == (board == "pyboard")
        card.flash.files["authfail"] = b"2 40"
        start = card.flash.snapshot()
        key = ADMIN if right_key else bytes(32)
        before = card.flash.events
        _auth_with_cut(card, start, key, None)
        total = card.flash.events - before
        assert total == (2 if right_key else 1) * (len("3 41") + 2 + (board == "pyboard"))
        allowed = [(2, 40), (3, 41)] + ([(0, 41)] if right_key else [])
        seen = set()
        for k in range(total):
            with pytest.raises(PowerCut):
                _auth_with_cut(card, start, key, k)
            got = _counts(card)
            assert got in allowed, (k, got)
            seen.add(got)
        # On littlefs a cut before a save's rename leaves the state before that save; on FAT
        # the cut between its remove and its rename already keeps the saved counts.
        expected = set(allowed) if board == "pyboard" else set(allowed[:-1])
        assert seen == expected, seen
        _auth_with_cut(card, start, key, None)
        assert _counts(card) == allowed[-1]
