"""The card's real-time clock on both emulator runtimes: SET_TIME sets it (sealed, in an admin
session), its refusals change nothing, and a time-based suite then logs in."""

from __future__ import annotations

import pytest
from emuhelpers import RUNTIMES, login
from ocra_reference import reference_response

from emulator import Emulator
from host_tools.client import AuthenticationRequired, CardClient, CardRejected

KEY = bytes(range(64))
ADMIN = bytes(range(64, 96))
SUITE = "OCRA-1:HOTP-SHA512-8:QN08-T1M"
WHEN = 1750000000  # 2025-06-15 15:06:40 UTC


def _raw(card: Emulator, frame: bytes) -> tuple[int, bytes]:
    from dsc import protocol as P

    t = card.transport()
    t.send(frame)
    got = b""
    for _ in range(50):
        got += t.receive(0.05)
        frames = P.Deframer().feed(got)
        if frames:
            return frames[0][1], frames[0][3]
    raise AssertionError("no answer")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_set_time_gives_a_card_without_a_clock_the_time(runtime: str) -> None:
    from dsc import protocol as P

    with Emulator(runtime=runtime, key=KEY, admin_key=ADMIN, suite=SUITE,
                  rtc_set=False) as card:
        card.hold("POWER", 1500)
        assert card.screen_text() == "NO TIME\nSERVICE"
        card.advance(60000)
        assert not card.is_on
        # Refused without a session (the card's own answer, not the client's check) ...
        rtype, payload = _raw(card, P.encode(P.CMD_SET_TIME, 3, P.tlv_encode(
            [(P.T_TIME, P.uint(WHEN, 8))])))
        assert rtype == P.RSP_ERROR
        assert P.tlv_decode(payload)[P.T_CODE] == bytes([P.ERR_AUTH_REQUIRED])
        client = CardClient(card.transport())
        with pytest.raises(AuthenticationRequired):
            client.set_time(WHEN)
        client.authenticate(ADMIN)
        # ... and with a bad payload, inside the session, which stays open.
        for fields in ([(P.T_TIME, P.uint(1000, 8))], [(P.T_TIME, P.uint(WHEN, 4))], []):
            with pytest.raises(CardRejected):
                client._sealed(P.CMD_SET_TIME, fields, False)
        assert card.board.unix_time() is None
        assert client.set_time(WHEN) is None  # it had never been set
        t0 = card.now()
        expected = reference_response(SUITE, KEY, "12345678", timestamp=WHEN // 60)
        assert login(card, None, "12345678") == expected
        elapsed = (card.now() - t0) // 1000
        assert client.set_time(WHEN + 3600) == WHEN + elapsed  # the clock ran on
        assert card.board.unix_time() == WHEN + 3600
    assert expected != reference_response(SUITE, KEY, "12345678", timestamp=WHEN // 60 + 1)
