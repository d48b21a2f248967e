"""Power cut at every flash event (every byte of every write, every rename and remove) of
provisioning and of a counter update: the card must boot to the old or the new state.

Each test first runs the operation once to count its flash events, then replays it from the
same starting flash with the power failing just before event k, for every k."""

from __future__ import annotations

import pytest
from emuhelpers import COUNTER_SUITE, login, ocra_qn_psha1

from emulator import Emulator, PowerCut
from host_tools.client import CardClient

KEY = bytes(range(32))
ADMIN = bytes(range(100, 132))


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
