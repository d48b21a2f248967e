"""The card's service handler (dsc.service): each test runs on an emulated card on both emulator
runtimes (`make_card`: the firmware on CPython, then on the MicroPython unix port), except the few
that reach into the handler's arithmetic, which drive it directly through a fake HAL and App."""

from __future__ import annotations

import binascii
import os

import pytest
from dsc import ocra
from dsc import protocol as P
from dsc import session as S
from emucards import EmuCard, MakeCard
from fakes import ADMIN_KEY, SECRET, SERIAL, SUITE, Card, FakeHal, error_code


def provision_payload(drop: int | None = None, **extra: bytes) -> bytes:
    items: list[tuple[int, bytes | str | int]] = [
        (P.T_SERIAL, SERIAL), (P.T_SUITE, SUITE), (P.T_SECRET, SECRET), (P.T_ADMIN_KEY, ADMIN_KEY)]
    items = [(t, v) for t, v in items if t != drop]
    items += [(int(k[1:], 16), v) for k, v in extra.items()]
    return P.tlv_encode(items)


def open_session(card: Card | EmuCard, key: bytes = ADMIN_KEY, serial: str = SERIAL) -> S.Session:
    nh = os.urandom(16)
    rtype, _, payload = card.ask(P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, nh)]))
    assert rtype == P.CMD_AUTH_BEGIN | P.RSP_FLAG
    f = P.tlv_decode(payload)
    nc = f[P.T_NONCE]
    assert f[P.T_PROOF] == S.card_proof(key, nh, nc, serial)
    proof = S.host_proof(key, nh, nc, serial)
    assert card.ask(P.CMD_AUTH_FINISH, P.tlv_encode([(P.T_PROOF, proof)]))[0] == \
        P.CMD_AUTH_FINISH | P.RSP_FLAG
    return S.Session(key, nh, nc, serial, False)


def sealed(card: Card | EmuCard, s: S.Session, ftype: int, fields: list[tuple[int, bytes | str | int]],
           rid: int = 9) -> dict[int, bytes]:
    seq = s.next_seq()
    rtype, rrid, payload = card.ask(ftype, s.seal(ftype, rid, seq, P.tlv_encode(fields)), rid)
    assert rtype == ftype | P.RSP_FLAG, P.tlv_decode(payload) if rtype == P.RSP_ERROR else rtype
    return P.tlv_decode(s.open(rtype, rrid, payload)[1])


# --- INFO ---
def test_info_blank_card(make_card: MakeCard) -> None:
    card = make_card()
    rtype, rid, payload = card.ask(P.CMD_INFO, rid=0x1234)
    assert (rtype, rid) == (P.CMD_INFO | P.RSP_FLAG, 0x1234)
    f = P.tlv_decode(payload)
    assert f[P.T_PROVISIONED] == b"\x00" and f[P.T_LOCKED] == b"\x00"
    assert f[P.T_FIRMWARE] == b"0.1.0" and f[P.T_BOARD] == b"pico"
    assert f[P.T_FREE_FLASH] == card.emu.flash.free().to_bytes(4, "big") == (1441792).to_bytes(4, "big")
    assert f[P.T_BATTERY_MV] == (3900).to_bytes(2, "big")  # the emulated board's battery
    assert P.T_SERIAL not in f and P.T_SUITE not in f


def test_info_provisioned_card_never_shows_keys(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    out = card.feed(P.encode(P.CMD_INFO, 1))
    f = P.tlv_decode(P.Deframer().feed(out)[0][3])
    assert f[P.T_SERIAL] == SERIAL.encode() and f[P.T_SUITE] == SUITE.encode()
    assert f[P.T_PROVISIONED] == b"\x01"
    for raw in (out, P.Deframer().feed(out)[0][3]):
        assert SECRET not in raw and ADMIN_KEY not in raw


# --- PROVISION on a blank card (trusted first use) ---
def test_provision_blank_card(make_card: MakeCard) -> None:
    card = make_card()
    payload = provision_payload(x32=6, x33=(60000).to_bytes(4, "big"))
    assert card.ask(P.CMD_PROVISION, payload)[0] == P.CMD_PROVISION | P.RSP_FLAG
    rec = card.record()
    assert rec is not None and card.record() is not None
    assert (rec.serial, rec.suite, rec.secret, rec.admin_key) == (SERIAL, SUITE, SECRET, ADMIN_KEY)
    assert (rec.pin_len, rec.idle_ms, rec.response_ms, rec.counter) == (6, 60000, 60000, 0)


@pytest.mark.parametrize(("payload", "code"), [
    (provision_payload(drop=P.T_SECRET), P.ERR_BAD_PAYLOAD),
    (provision_payload(drop=P.T_SERIAL), P.ERR_BAD_PAYLOAD),
    (provision_payload(x99=b"?"), P.ERR_BAD_PAYLOAD),                   # unknown tag
    (provision_payload(x32=3), P.ERR_BAD_PAYLOAD),                      # PIN too short
    (provision_payload(x33=b"\x00\x01"), P.ERR_BAD_PAYLOAD),            # wrong field size
    (P.tlv_encode([(P.T_SERIAL, SERIAL), (P.T_SUITE, "OCRA-2:HOTP-SHA1-6:QN08"),
                   (P.T_SECRET, SECRET), (P.T_ADMIN_KEY, ADMIN_KEY)]), P.ERR_BAD_SUITE),
    (P.tlv_encode([(P.T_SERIAL, "DSC\x01"), (P.T_SUITE, SUITE),
                   (P.T_SECRET, SECRET), (P.T_ADMIN_KEY, ADMIN_KEY)]), P.ERR_BAD_PAYLOAD),
    (P.tlv_encode([(P.T_SERIAL, SERIAL), (P.T_SUITE, SUITE),
                   (P.T_SECRET, SECRET), (P.T_ADMIN_KEY, bytes(8))]), P.ERR_BAD_PAYLOAD),
    (b"\x10\x40abc", P.ERR_BAD_PAYLOAD),                                # truncated TLV
])
def test_bad_provision_changes_nothing(make_card: MakeCard, payload: bytes, code: int) -> None:
    card = make_card()
    assert error_code(card.ask(P.CMD_PROVISION, payload)) == code
    assert card.files == {} and card.record() is None


def test_provision_refused_on_provisioned_card_without_auth(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    before = card.state()
    payload = provision_payload()
    assert error_code(card.ask(P.CMD_PROVISION, payload)) == P.ERR_AUTH_REQUIRED
    assert card.state() == before


def test_storage_failure_leaves_old_record(make_card: MakeCard) -> None:
    card = make_card()
    card.fill_flash()
    before = card.state()
    assert error_code(card.ask(P.CMD_PROVISION, provision_payload())) == P.ERR_STORAGE
    assert card.record() is None and card.state() == before


@pytest.mark.parametrize("cmd", [P.CMD_SET_CONFIG, P.CMD_TEST, P.CMD_WIPE, P.CMD_LOCK,
                                 P.CMD_SET_TIME])
def test_admin_commands_on_blank_card(make_card: MakeCard, cmd: int) -> None:
    assert error_code(make_card().ask(cmd)) == P.ERR_NOT_PROVISIONED


@pytest.mark.parametrize("cmd", [P.CMD_SET_CONFIG, P.CMD_TEST, P.CMD_WIPE, P.CMD_LOCK,
                                 P.CMD_SET_TIME])
def test_admin_commands_need_auth(make_card: MakeCard, cmd: int) -> None:
    card = make_card(provisioned=True)
    before = card.state()
    assert error_code(card.ask(cmd, P.tlv_encode([(P.T_CHALLENGE, "123456")]))) == \
        P.ERR_AUTH_REQUIRED
    assert card.state() == before


# --- AUTH ---
def test_auth_then_test_matches_ocra(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    s = open_session(card)
    f = sealed(card, s, P.CMD_TEST, [(P.T_CHALLENGE, "123456"), (P.T_PIN, "1234")])
    assert f[P.T_RESPONSE].decode() == ocra.response(SUITE, SECRET, "123456", pin="1234")


def test_auth_begin_on_blank_card(make_card: MakeCard) -> None:
    payload = P.tlv_encode([(P.T_NONCE, bytes(16))])
    assert error_code(make_card().ask(P.CMD_AUTH_BEGIN, payload)) == P.ERR_NOT_PROVISIONED


def test_auth_finish_without_begin(make_card: MakeCard) -> None:
    payload = P.tlv_encode([(P.T_PROOF, bytes(32))])
    assert error_code(make_card(provisioned=True).ask(P.CMD_AUTH_FINISH, payload)) == P.ERR_BAD_STATE


def test_auth_bad_nonce_size(make_card: MakeCard) -> None:
    payload = P.tlv_encode([(P.T_NONCE, bytes(15))])
    assert error_code(make_card(provisioned=True).ask(P.CMD_AUTH_BEGIN, payload)) == P.ERR_BAD_PAYLOAD


# An emulated card spends up to one serial poll period of virtual time on each exchange, so a
# wait it reports may be that much shorter than the one it started.
SLACK_MS = 30


def retry_ms(answer: tuple[int, int, bytes]) -> int:
    assert error_code(answer) == P.ERR_AUTH_DELAY
    return P.to_uint(P.tlv_decode(answer[2])[P.T_RETRY_MS], 4)


def near(got: int, full: int) -> bool:
    return full - SLACK_MS <= got <= full


def wrong_auth(card: Card | EmuCard) -> tuple[int, int, bytes]:
    nh = bytes(16)
    card.ask(P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, nh)]))
    return card.ask(P.CMD_AUTH_FINISH, P.tlv_encode([(P.T_PROOF, bytes(32))]))


def test_wrong_proof_counted_and_delayed_exponentially(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    assert error_code(wrong_auth(card)) == P.ERR_AUTH_FAILED
    assert card.files["authfail"] == b"1 1"  # wrong proofs in a row, attempts ever
    begin = P.tlv_encode([(P.T_NONCE, bytes(16))])
    assert near(retry_ms(card.ask(P.CMD_AUTH_BEGIN, begin)), 1000)
    card.advance(1000)
    assert error_code(wrong_auth(card)) == P.ERR_AUTH_FAILED
    assert near(retry_ms(card.ask(P.CMD_AUTH_BEGIN, begin)), 2000)
    # Persisted across a reboot: the wait starts again at boot.
    card.reboot()
    assert card.files["authfail"] == b"2 2"
    assert error_code(card.ask(P.CMD_AUTH_BEGIN, begin)) == P.ERR_AUTH_DELAY
    card.advance(2000)
    open_session(card)  # the right key still works once the wait is over
    assert card.files["authfail"] == b"0 3"


class WrappingHal(FakeHal):
    """Ticks as a 32-bit board has them: folded to 0..TICKS_MAX; time.ticks_diff there cannot
    take anything else (a bigger number is not a small int: the result is garbage)."""

    def ticks_ms(self) -> int:
        return self.t & TICKS_MAX

    def ticks_diff(self, a: int, b: int) -> int:
        if not (0 <= a <= TICKS_MAX and 0 <= b <= TICKS_MAX):
            raise ValueError("not a ticks value")
        return ((a - b + TICKS_HALF) & TICKS_MAX) - TICKS_HALF


TICKS_MAX = (1 << 30) - 1
TICKS_HALF = 1 << 29


def test_auth_delay_across_the_ticks_wrap() -> None:
    # The fake HAL: its ticks can be put just before the wrap.
    card = Card(provisioned=True)
    card.hal = hal = WrappingHal(files=card.files)
    hal.t = TICKS_MAX - 300  # the wait ends after the ticks wrap to 0
    card.reboot()
    assert error_code(wrong_auth(card)) == P.ERR_AUTH_FAILED
    begin = P.tlv_encode([(P.T_NONCE, bytes(16))])
    hal.t += 500
    answer = card.ask(P.CMD_AUTH_BEGIN, begin)
    assert error_code(answer) == P.ERR_AUTH_DELAY
    assert P.to_uint(P.tlv_decode(answer[2])[P.T_RETRY_MS], 4) == 500
    hal.t += 500
    open_session(card)


def test_auth_delay_ends_even_if_nobody_asks_for_days(make_card: MakeCard) -> None:
    # The emulated board's ticks fold like time.ticks_ms() (a 30-bit period on both runtimes).
    card = make_card(provisioned=True)
    for _ in range(12):  # the longest wait
        card.advance(S.MAX_DELAY_MS)
        assert error_code(wrong_auth(card)) == P.ERR_AUTH_FAILED
    card.advance(TICKS_HALF + 1000)  # ticks_diff folds this to a negative number
    open_session(card)


def test_unreadable_fail_file_means_the_longest_wait(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    card.files["authfail"] = b"\xff garbage"
    card.reboot()
    begin = P.tlv_encode([(P.T_NONCE, bytes(16))])
    assert near(retry_ms(card.ask(P.CMD_AUTH_BEGIN, begin)), S.MAX_DELAY_MS)
    card.files["authfail"] = b"3"  # the format before the attempt count: failures only
    card.reboot()
    assert near(retry_ms(card.ask(P.CMD_AUTH_BEGIN, begin)), S.delay_ms(3))  # 3 failures
    card.advance(S.delay_ms(3))
    _, _, payload = card.ask(P.CMD_AUTH_BEGIN, begin)
    assert P.tlv_decode(payload)[P.T_NONCE][S.NONCE_RANDOM:] == bytes((0, 0, 0, 3))  # 3 attempts


def test_delay_caps() -> None:
    assert [S.delay_ms(n) for n in (0, 1, 2, 3, 10)] == [0, 1000, 2000, 4000, 512000]
    assert S.delay_ms(13) == S.delay_ms(100) == S.MAX_DELAY_MS


def test_wrong_admin_key_refused(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    nh = os.urandom(16)
    _, _, payload = card.ask(P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, nh)]))
    nc = P.tlv_decode(payload)[P.T_NONCE]
    proof = S.host_proof(bytes(32), nh, nc, SERIAL)
    assert error_code(card.ask(P.CMD_AUTH_FINISH, P.tlv_encode([(P.T_PROOF, proof)]))) == \
        P.ERR_AUTH_FAILED
    assert error_code(card.ask(P.CMD_WIPE)) == P.ERR_AUTH_REQUIRED


def test_replayed_auth_transcript_refused(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    nh = bytes(range(16))
    begin = P.encode(P.CMD_AUTH_BEGIN, 1, P.tlv_encode([(P.T_NONCE, nh)]))
    nc = P.tlv_decode(P.Deframer().feed(card.feed(begin))[0][3])[P.T_NONCE]
    finish = P.encode(P.CMD_AUTH_FINISH, 2,
                      P.tlv_encode([(P.T_PROOF, S.host_proof(ADMIN_KEY, nh, nc, SERIAL))]))
    assert P.Deframer().feed(card.feed(finish))[0][1] == P.CMD_AUTH_FINISH | P.RSP_FLAG
    # An eavesdropper replays both frames: the card picks a fresh nonce, the old proof fails.
    card.reboot()
    card.feed(begin)
    answer = P.Deframer().feed(card.feed(finish))[0]
    assert answer[1] == P.RSP_ERROR
    assert P.tlv_decode(answer[3])[P.T_CODE][0] == P.ERR_AUTH_FAILED
    # Replaying the finish alone (no fresh begin) is out of order.
    assert P.tlv_decode(P.Deframer().feed(card.feed(finish))[0][3])[P.T_CODE][0] == \
        P.ERR_BAD_STATE


def test_nonce_never_repeats_even_if_the_trng_does(make_card: MakeCard) -> None:
    # A board whose RNG starts the same sequence at every boot: an eavesdropper who recorded a
    # good AUTH and a sealed command replays them after a reboot. The card's nonce carries its
    # persisted count of AUTH attempts, so it differs and the recorded proof is worthless.
    card = make_card(provisioned=True, seed=11)
    nh = bytes(range(16))
    begin = P.encode(P.CMD_AUTH_BEGIN, 1, P.tlv_encode([(P.T_NONCE, nh)]))
    nc = P.tlv_decode(P.Deframer().feed(card.feed(begin))[0][3])[P.T_NONCE]
    assert nc[S.NONCE_RANDOM:] == bytes(4)  # no AUTH checked yet on this card
    finish = P.encode(P.CMD_AUTH_FINISH, 2,
                      P.tlv_encode([(P.T_PROOF, S.host_proof(ADMIN_KEY, nh, nc, SERIAL))]))
    s = S.Session(ADMIN_KEY, nh, nc, SERIAL, False)
    config = P.encode(P.CMD_SET_CONFIG, 3, s.seal(P.CMD_SET_CONFIG, 3, s.next_seq(),
                                                  P.tlv_encode([(P.T_PIN_LEN, 9)])))
    assert P.Deframer().feed(card.feed(finish))[0][1] == P.CMD_AUTH_FINISH | P.RSP_FLAG
    assert P.Deframer().feed(card.feed(config))[0][1] == P.CMD_SET_CONFIG | P.RSP_FLAG
    rec = sealed(card, s, P.CMD_SET_CONFIG, [(P.T_PIN_LEN, 4)])  # the admin puts it back
    assert rec == {} and card.record() is not None and card.record().pin_len == 4
    before = card.state()
    card.reboot(trng_restarts=True)
    answer = P.Deframer().feed(card.feed(begin))[0]
    again = P.tlv_decode(answer[3])[P.T_NONCE]
    assert again[:S.NONCE_RANDOM] == nc[:S.NONCE_RANDOM]  # the TRNG did repeat itself
    assert again != nc
    assert error_code(P.Deframer().feed(card.feed(finish))[0][1:]) == P.ERR_AUTH_FAILED
    assert error_code(P.Deframer().feed(card.feed(config))[0][1:]) == P.ERR_AUTH_REQUIRED
    assert card.state() == before


# --- sessions ---
def test_replayed_and_reordered_session_frames_refused(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    s = open_session(card)
    frames = []
    for _ in range(2):
        seq = s.next_seq()
        payload = s.seal(P.CMD_TEST, 5, seq, P.tlv_encode([(P.T_CHALLENGE, "111111"),
                                                          (P.T_PIN, "1234")]))
        frames.append(payload)
    assert card.ask(P.CMD_TEST, frames[1], 5)[0] == P.CMD_TEST | P.RSP_FLAG
    assert error_code(card.ask(P.CMD_TEST, frames[0], 5)) == P.ERR_SESSION  # reordered
    # The session is closed after a bad frame: a replay of the good one fails too.
    assert error_code(card.ask(P.CMD_TEST, frames[1], 5)) == P.ERR_AUTH_REQUIRED


def test_replayed_frame_after_good_one_refused(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    s = open_session(card)
    seq = s.next_seq()
    payload = s.seal(P.CMD_LOCK, 5, seq, b"")
    assert card.ask(P.CMD_LOCK, payload, 5)[0] == P.CMD_LOCK | P.RSP_FLAG
    assert error_code(card.ask(P.CMD_LOCK, payload, 5)) == P.ERR_SESSION


def test_tampered_session_frame_refused(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    s = open_session(card)
    payload = bytearray(s.seal(P.CMD_WIPE, 5, s.next_seq(), b""))
    payload[-1] ^= 1
    assert error_code(card.ask(P.CMD_WIPE, bytes(payload), 5)) == P.ERR_SESSION
    assert card.record() is not None
    # A sealed WIPE relabelled as another command does not pass either.
    s = open_session(card)
    payload = bytearray(s.seal(P.CMD_WIPE, 5, s.next_seq(), b""))
    assert error_code(card.ask(P.CMD_LOCK, bytes(payload), 5)) == P.ERR_SESSION


def test_session_expires_when_idle(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    s = open_session(card)
    card.advance(120_001)
    payload = s.seal(P.CMD_LOCK, 5, s.next_seq(), b"")
    assert error_code(card.ask(P.CMD_LOCK, payload, 5)) == P.ERR_AUTH_REQUIRED


def test_session_left_open_for_days_is_closed(make_card: MakeCard) -> None:
    # ticks_diff folds 6+ days of idling into a negative number: still idle, not "just now".
    card = make_card(provisioned=True)
    s = open_session(card)
    card.advance(TICKS_HALF + 60_000)
    payload = s.seal(P.CMD_LOCK, 5, s.next_seq(), b"")
    assert error_code(card.ask(P.CMD_LOCK, payload, 5)) == P.ERR_AUTH_REQUIRED
    assert card.record() is not None and not card.record().locked


def test_set_config_lock_and_wipe_in_session(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    s = open_session(card)
    sealed(card, s, P.CMD_SET_CONFIG, [(P.T_PIN_LEN, 6), (P.T_IDLE_MS, P.uint(10000, 4))])
    rec = card.record()
    assert rec is not None and (rec.pin_len, rec.idle_ms, rec.response_ms) == (6, 10000, 60000)
    sealed(card, s, P.CMD_LOCK, [])
    assert card.repl_locked
    rec = card.record()
    assert rec is not None and rec.locked
    sealed(card, s, P.CMD_WIPE, [])
    assert card.record() is None and card.record() is None
    assert error_code(card.ask(P.CMD_LOCK)) == P.ERR_NOT_PROVISIONED


def test_bad_config_in_session_changes_nothing(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    before = card.state()
    s = open_session(card)
    for fields in ([], [(P.T_PIN_LEN, 2)], [(P.T_IDLE_MS, P.uint(10, 4))], [(P.T_SECRET, "x")]):
        seq = s.next_seq()
        payload = s.seal(P.CMD_SET_CONFIG, 5, seq, P.tlv_encode(fields))  # type: ignore[arg-type]
        assert error_code(card.ask(P.CMD_SET_CONFIG, payload, 5)) == P.ERR_BAD_PAYLOAD
    assert card.state() == before


# --- SET_TIME ---
T_2025 = 1750000000  # 2025-06-15 15:06:40 UTC


def test_set_time_sets_the_clock_and_answers_the_old_one() -> None:
    card = Card(provisioned=True)
    s = open_session(card)
    assert sealed(card, s, P.CMD_SET_TIME, [(P.T_TIME, P.uint(T_2025, 8))]) == {}  # was unset
    assert card.hal.clock == T_2025
    card.hal.clock = T_2025 + 42  # the card's clock ran fast
    f = sealed(card, s, P.CMD_SET_TIME, [(P.T_TIME, P.uint(T_2025 + 40, 8))])
    assert f == {P.T_TIME: P.uint(T_2025 + 42, 8)} and card.hal.clock == T_2025 + 40


def test_set_time_without_a_session_changes_nothing() -> None:
    card = Card(provisioned=True)
    payload = P.tlv_encode([(P.T_TIME, P.uint(T_2025, 8))])
    assert error_code(card.ask(P.CMD_SET_TIME, payload)) == P.ERR_AUTH_REQUIRED
    assert card.hal.clock is None
    assert error_code(Card().ask(P.CMD_SET_TIME, payload)) == P.ERR_NOT_PROVISIONED


@pytest.mark.parametrize("fields", [
    [],                                                    # no time
    [(P.T_TIME, P.uint(T_2025, 4))],                       # not 8 bytes
    [(P.T_TIME, P.uint(1704067199, 8))],                   # before 2024: a clock never set
    [(P.T_TIME, P.uint(4102444800, 8))],                   # 2100
    [(P.T_TIME, P.uint(T_2025, 8)), (P.T_PIN_LEN, 4)],     # a field SET_TIME does not take
])
def test_set_time_refuses_a_bad_payload(fields: list[tuple[int, bytes | int]]) -> None:
    card = Card(provisioned=True)
    s = open_session(card)
    payload = s.seal(P.CMD_SET_TIME, 5, s.next_seq(), P.tlv_encode(fields))  # type: ignore[arg-type]
    assert error_code(card.ask(P.CMD_SET_TIME, payload, 5)) == P.ERR_BAD_PAYLOAD
    assert card.hal.clock is None
    assert sealed(card, s, P.CMD_SET_TIME, [(P.T_TIME, P.uint(T_2025, 8))]) == {}  # session open


def test_set_time_on_a_clock_that_refuses() -> None:
    card = Card(provisioned=True)
    card.hal.rtc_fails = True
    s = open_session(card)
    payload = s.seal(P.CMD_SET_TIME, 5, s.next_seq(), P.tlv_encode([(P.T_TIME, P.uint(T_2025, 8))]))
    assert error_code(card.ask(P.CMD_SET_TIME, payload, 5)) == P.ERR_STORAGE


def test_reprovision_in_session_keeps_lock_and_ends_session(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    s = open_session(card)
    sealed(card, s, P.CMD_LOCK, [])
    new_key = bytes(range(32))
    sealed(card, s, P.CMD_PROVISION, [(P.T_SERIAL, "DSC2"), (P.T_SUITE, SUITE),
                                      (P.T_SECRET, bytes(20)), (P.T_ADMIN_KEY, new_key)])
    rec = card.record()
    assert rec is not None and rec.serial == "DSC2" and rec.locked
    payload = s.seal(P.CMD_LOCK, 5, s.next_seq(), b"")
    assert error_code(card.ask(P.CMD_LOCK, payload, 5)) == P.ERR_AUTH_REQUIRED
    open_session(card, new_key, "DSC2")


def test_test_with_counter_suite_does_not_advance(make_card: MakeCard) -> None:
    card = make_card()
    suite = "OCRA-1:HOTP-SHA512-8:C-QN08"
    card.ask(P.CMD_PROVISION, P.tlv_encode([
        (P.T_SERIAL, SERIAL), (P.T_SUITE, suite), (P.T_SECRET, SECRET), (P.T_ADMIN_KEY, ADMIN_KEY),
        (P.T_COUNTER, P.uint(5, 8))]))
    s = open_session(card)
    for _ in range(2):
        f = sealed(card, s, P.CMD_TEST, [(P.T_CHALLENGE, "12345678")])
        assert f[P.T_RESPONSE].decode() == ocra.response(suite, SECRET, "12345678", counter=5)


def test_test_with_bad_challenge(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    s = open_session(card)
    payload = s.seal(P.CMD_TEST, 5, s.next_seq(), P.tlv_encode([(P.T_CHALLENGE, "12ab"),
                                                               (P.T_PIN, "1234")]))
    assert error_code(card.ask(P.CMD_TEST, payload, 5)) == P.ERR_BAD_PAYLOAD


# --- damaged record, reboot, framing ---
def test_damaged_record_can_be_wiped_without_auth_not_overwritten(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    data = bytearray(card.files["record"])
    data[30] ^= 0xFF
    card.files["record"] = bytes(data)
    card.reboot()
    assert card.record() is None
    info = P.tlv_decode(card.ask(P.CMD_INFO)[2])
    assert info[P.T_RECORD_ERROR] and info[P.T_PROVISIONED] == b"\x00"
    assert error_code(card.ask(P.CMD_PROVISION, provision_payload())) == P.ERR_RECORD
    assert card.ask(P.CMD_WIPE)[0] == P.CMD_WIPE | P.RSP_FLAG
    assert "record" not in card.files
    assert card.ask(P.CMD_PROVISION, provision_payload())[0] == P.CMD_PROVISION | P.RSP_FLAG


def test_reboot_answers_then_reboots(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    boots = card.boots
    assert card.ask(P.CMD_REBOOT)[0] == P.CMD_REBOOT | P.RSP_FLAG
    assert card.boots == boots + 1
    assert error_code(card.ask(P.CMD_REBOOT, b"\x01\x00")) == P.ERR_BAD_PAYLOAD
    assert card.boots == boots + 1


def test_unknown_command_and_response_types(make_card: MakeCard) -> None:
    card = make_card()
    for t in (0x00, 0x0B, 0x7F, P.CMD_INFO | P.RSP_FLAG, P.RSP_ERROR):
        assert error_code(card.ask(t)) == P.ERR_UNKNOWN_COMMAND


def test_garbage_is_silent_and_bad_frames_get_errors(make_card: MakeCard) -> None:
    # A production build: on a development card the Ctrl-C below would start the REPL.
    card = make_card(production=True)
    assert card.feed(b"hello\r\n\x03\x04>>> print(1)\r\n") == b""
    raw = bytearray(P.frame_bytes(P.CMD_INFO, 3))
    raw[-1] ^= 0xFF
    out = P.Deframer().feed(card.feed(b"~" + binascii.b2a_base64(bytes(raw), newline=False) + b"\n"))
    assert out[0][:3] == (0, P.RSP_ERROR, 0)
    assert P.tlv_decode(out[0][3])[P.T_CODE][0] == P.ERR_FRAME_CRC


def test_several_frames_in_one_read(make_card: MakeCard) -> None:
    card = make_card()
    out = P.Deframer().feed(card.feed(P.encode(P.CMD_INFO, 1) + b"noise" + P.encode(P.CMD_INFO, 2)))
    assert [(f[1], f[2]) for f in out] == [(P.CMD_INFO | P.RSP_FLAG, 1),
                                           (P.CMD_INFO | P.RSP_FLAG, 2)]
