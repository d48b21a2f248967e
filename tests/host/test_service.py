"""The card's service handler (dsc.service) driven directly through a fake HAL and App."""

from __future__ import annotations

import binascii
import os

import pytest
from dsc import ocra, record
from dsc import protocol as P
from dsc import session as S
from fakes import ADMIN_KEY, SECRET, SERIAL, SUITE, Card, FakeHal, error_code


def provision_payload(drop: int | None = None, **extra: bytes) -> bytes:
    items: list[tuple[int, bytes | str | int]] = [
        (P.T_SERIAL, SERIAL), (P.T_SUITE, SUITE), (P.T_SECRET, SECRET), (P.T_ADMIN_KEY, ADMIN_KEY)]
    items = [(t, v) for t, v in items if t != drop]
    items += [(int(k[1:], 16), v) for k, v in extra.items()]
    return P.tlv_encode(items)


def open_session(card: Card, key: bytes = ADMIN_KEY, serial: str = SERIAL) -> S.Session:
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


def sealed(card: Card, s: S.Session, ftype: int, fields: list[tuple[int, bytes | str | int]],
           rid: int = 9) -> dict[int, bytes]:
    seq = s.next_seq()
    rtype, rrid, payload = card.ask(ftype, s.seal(ftype, rid, seq, P.tlv_encode(fields)), rid)
    assert rtype == ftype | P.RSP_FLAG, P.tlv_decode(payload) if rtype == P.RSP_ERROR else rtype
    return P.tlv_decode(s.open(rtype, rrid, payload)[1])


# --- INFO ---
def test_info_blank_card() -> None:
    rtype, rid, payload = Card().ask(P.CMD_INFO, rid=0x1234)
    assert (rtype, rid) == (P.CMD_INFO | P.RSP_FLAG, 0x1234)
    f = P.tlv_decode(payload)
    assert f[P.T_PROVISIONED] == b"\x00" and f[P.T_LOCKED] == b"\x00"
    assert f[P.T_FIRMWARE] == b"0.1.0" and f[P.T_BOARD] == b"pico"
    assert f[P.T_FREE_FLASH] == (1_000_000).to_bytes(4, "big")
    assert f[P.T_BATTERY_MV] == (3700).to_bytes(2, "big")
    assert P.T_SERIAL not in f and P.T_SUITE not in f


def test_info_provisioned_card_never_shows_keys() -> None:
    card = Card(provisioned=True)
    out = card.feed(P.encode(P.CMD_INFO, 1))
    f = P.tlv_decode(P.Deframer().feed(out)[0][3])
    assert f[P.T_SERIAL] == SERIAL.encode() and f[P.T_SUITE] == SUITE.encode()
    assert f[P.T_PROVISIONED] == b"\x01"
    for raw in (out, P.Deframer().feed(out)[0][3]):
        assert SECRET not in raw and ADMIN_KEY not in raw


# --- PROVISION on a blank card (trusted first use) ---
def test_provision_blank_card() -> None:
    card = Card()
    payload = provision_payload(x32=6, x33=(60000).to_bytes(4, "big"))
    assert card.ask(P.CMD_PROVISION, payload)[0] == P.CMD_PROVISION | P.RSP_FLAG
    rec = record.load(card.hal)
    assert rec is not None and card.app.record is not None
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
def test_bad_provision_changes_nothing(payload: bytes, code: int) -> None:
    card = Card()
    assert error_code(card.ask(P.CMD_PROVISION, payload)) == code
    assert card.hal.files == {} and card.app.record is None


def test_provision_refused_on_provisioned_card_without_auth() -> None:
    card = Card(provisioned=True)
    before = card.state()
    payload = provision_payload()
    assert error_code(card.ask(P.CMD_PROVISION, payload)) == P.ERR_AUTH_REQUIRED
    assert card.state() == before


def test_storage_failure_leaves_old_record() -> None:
    card = Card()
    card.hal.fail_writes = True
    assert error_code(card.ask(P.CMD_PROVISION, provision_payload())) == P.ERR_STORAGE
    assert card.app.record is None and card.hal.files == {}


@pytest.mark.parametrize("cmd", [P.CMD_SET_CONFIG, P.CMD_TEST, P.CMD_WIPE, P.CMD_LOCK,
                                 P.CMD_SET_TIME])
def test_admin_commands_on_blank_card(cmd: int) -> None:
    assert error_code(Card().ask(cmd)) == P.ERR_NOT_PROVISIONED


@pytest.mark.parametrize("cmd", [P.CMD_SET_CONFIG, P.CMD_TEST, P.CMD_WIPE, P.CMD_LOCK,
                                 P.CMD_SET_TIME])
def test_admin_commands_need_auth(cmd: int) -> None:
    card = Card(provisioned=True)
    before = card.state()
    assert error_code(card.ask(cmd, P.tlv_encode([(P.T_CHALLENGE, "123456")]))) == \
        P.ERR_AUTH_REQUIRED
    assert card.state() == before


# --- AUTH ---
def test_auth_then_test_matches_ocra() -> None:
    card = Card(provisioned=True)
    s = open_session(card)
    f = sealed(card, s, P.CMD_TEST, [(P.T_CHALLENGE, "123456"), (P.T_PIN, "1234")])
    assert f[P.T_RESPONSE].decode() == ocra.response(SUITE, SECRET, "123456", pin="1234")


def test_auth_begin_on_blank_card() -> None:
    payload = P.tlv_encode([(P.T_NONCE, bytes(16))])
    assert error_code(Card().ask(P.CMD_AUTH_BEGIN, payload)) == P.ERR_NOT_PROVISIONED


def test_auth_finish_without_begin() -> None:
    payload = P.tlv_encode([(P.T_PROOF, bytes(32))])
    assert error_code(Card(provisioned=True).ask(P.CMD_AUTH_FINISH, payload)) == P.ERR_BAD_STATE


def test_auth_bad_nonce_size() -> None:
    payload = P.tlv_encode([(P.T_NONCE, bytes(15))])
    assert error_code(Card(provisioned=True).ask(P.CMD_AUTH_BEGIN, payload)) == P.ERR_BAD_PAYLOAD


def wrong_auth(card: Card) -> tuple[int, int, bytes]:
    nh = bytes(16)
    card.ask(P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, nh)]))
    return card.ask(P.CMD_AUTH_FINISH, P.tlv_encode([(P.T_PROOF, bytes(32))]))


def test_wrong_proof_counted_and_delayed_exponentially() -> None:
    card = Card(provisioned=True)
    assert error_code(wrong_auth(card)) == P.ERR_AUTH_FAILED
    assert card.hal.files["authfail"] == b"1 1"  # wrong proofs in a row, attempts ever
    begin = P.tlv_encode([(P.T_NONCE, bytes(16))])
    answer = card.ask(P.CMD_AUTH_BEGIN, begin)
    assert error_code(answer) == P.ERR_AUTH_DELAY
    assert P.to_uint(P.tlv_decode(answer[2])[P.T_RETRY_MS], 4) == 1000
    card.hal.t += 1000
    assert error_code(wrong_auth(card)) == P.ERR_AUTH_FAILED
    answer = card.ask(P.CMD_AUTH_BEGIN, begin)
    assert P.to_uint(P.tlv_decode(answer[2])[P.T_RETRY_MS], 4) == 2000
    # Persisted across a reboot: the wait starts again at boot.
    card.reboot()
    assert card.hal.files["authfail"] == b"2 2"
    assert error_code(card.ask(P.CMD_AUTH_BEGIN, begin)) == P.ERR_AUTH_DELAY
    card.hal.t += 2000
    open_session(card)  # the right key still works once the wait is over
    assert card.hal.files["authfail"] == b"0 3"


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
    card = Card(provisioned=True)
    card.hal = hal = WrappingHal(files=card.hal.files)
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


def test_auth_delay_ends_even_if_nobody_asks_for_days() -> None:
    card = Card(provisioned=True)
    card.hal = hal = WrappingHal(files=card.hal.files)
    card.reboot()
    for _ in range(12):  # the longest wait
        hal.t += S.MAX_DELAY_MS
        assert error_code(wrong_auth(card)) == P.ERR_AUTH_FAILED
    hal.t += TICKS_HALF + 1000  # ticks_diff folds this to a negative number
    open_session(card)


def test_unreadable_fail_file_means_the_longest_wait() -> None:
    card = Card(provisioned=True)
    card.hal.files["authfail"] = b"\xff garbage"
    card.reboot()
    answer = card.ask(P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, bytes(16))]))
    assert P.to_uint(P.tlv_decode(answer[2])[P.T_RETRY_MS], 4) == S.MAX_DELAY_MS
    card.hal.files["authfail"] = b"3"  # the format before the attempt count: failures only
    card.reboot()
    assert card.service._throttle.failures == card.service._throttle.attempts == 3


def test_delay_caps() -> None:
    assert [S.delay_ms(n) for n in (0, 1, 2, 3, 10)] == [0, 1000, 2000, 4000, 512000]
    assert S.delay_ms(13) == S.delay_ms(100) == S.MAX_DELAY_MS


def test_wrong_admin_key_refused() -> None:
    card = Card(provisioned=True)
    nh = os.urandom(16)
    _, _, payload = card.ask(P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, nh)]))
    nc = P.tlv_decode(payload)[P.T_NONCE]
    proof = S.host_proof(bytes(32), nh, nc, SERIAL)
    assert error_code(card.ask(P.CMD_AUTH_FINISH, P.tlv_encode([(P.T_PROOF, proof)]))) == \
        P.ERR_AUTH_FAILED
    assert error_code(card.ask(P.CMD_WIPE)) == P.ERR_AUTH_REQUIRED


def test_replayed_auth_transcript_refused() -> None:
    card = Card(provisioned=True)
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


def test_nonce_never_repeats_even_if_the_trng_does() -> None:
    # A board whose RNG starts the same sequence at every boot: an eavesdropper who recorded a
    # good AUTH and a sealed command replays them after a reboot. The card's nonce carries its
    # persisted count of AUTH attempts, so it differs and the recorded proof is worthless.
    card = Card(provisioned=True, seed=11)
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
    assert rec == {} and card.app.record is not None and card.app.record.pin_len == 4
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
def test_replayed_and_reordered_session_frames_refused() -> None:
    card = Card(provisioned=True)
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


def test_replayed_frame_after_good_one_refused() -> None:
    card = Card(provisioned=True)
    s = open_session(card)
    seq = s.next_seq()
    payload = s.seal(P.CMD_LOCK, 5, seq, b"")
    assert card.ask(P.CMD_LOCK, payload, 5)[0] == P.CMD_LOCK | P.RSP_FLAG
    assert error_code(card.ask(P.CMD_LOCK, payload, 5)) == P.ERR_SESSION


def test_tampered_session_frame_refused() -> None:
    card = Card(provisioned=True)
    s = open_session(card)
    payload = bytearray(s.seal(P.CMD_WIPE, 5, s.next_seq(), b""))
    payload[-1] ^= 1
    assert error_code(card.ask(P.CMD_WIPE, bytes(payload), 5)) == P.ERR_SESSION
    assert card.app.record is not None
    # A sealed WIPE relabelled as another command does not pass either.
    s = open_session(card)
    payload = bytearray(s.seal(P.CMD_WIPE, 5, s.next_seq(), b""))
    assert error_code(card.ask(P.CMD_LOCK, bytes(payload), 5)) == P.ERR_SESSION


def test_session_expires_when_idle() -> None:
    card = Card(provisioned=True)
    s = open_session(card)
    card.hal.t += 120_001
    payload = s.seal(P.CMD_LOCK, 5, s.next_seq(), b"")
    assert error_code(card.ask(P.CMD_LOCK, payload, 5)) == P.ERR_AUTH_REQUIRED


def test_session_left_open_for_days_is_closed() -> None:
    # ticks_diff folds 6+ days of idling into a negative number: still idle, not "just now".
    card = Card(provisioned=True)
    card.hal = WrappingHal(files=card.hal.files)
    card.reboot()
    s = open_session(card)
    card.hal.t += TICKS_HALF + 60_000
    payload = s.seal(P.CMD_LOCK, 5, s.next_seq(), b"")
    assert error_code(card.ask(P.CMD_LOCK, payload, 5)) == P.ERR_AUTH_REQUIRED
    assert card.app.record is not None and not card.app.record.locked


def test_set_config_lock_and_wipe_in_session() -> None:
    card = Card(provisioned=True)
    s = open_session(card)
    sealed(card, s, P.CMD_SET_CONFIG, [(P.T_PIN_LEN, 6), (P.T_IDLE_MS, P.uint(10000, 4))])
    rec = record.load(card.hal)
    assert rec is not None and (rec.pin_len, rec.idle_ms, rec.response_ms) == (6, 10000, 60000)
    sealed(card, s, P.CMD_LOCK, [])
    assert card.app.production and card.hal.repl_locked
    rec = record.load(card.hal)
    assert rec is not None and rec.locked
    sealed(card, s, P.CMD_WIPE, [])
    assert card.app.record is None and record.load(card.hal) is None
    assert error_code(card.ask(P.CMD_LOCK)) == P.ERR_NOT_PROVISIONED


def test_bad_config_in_session_changes_nothing() -> None:
    card = Card(provisioned=True)
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


def test_reprovision_in_session_keeps_lock_and_ends_session() -> None:
    card = Card(provisioned=True)
    s = open_session(card)
    sealed(card, s, P.CMD_LOCK, [])
    new_key = bytes(range(32))
    sealed(card, s, P.CMD_PROVISION, [(P.T_SERIAL, "DSC2"), (P.T_SUITE, SUITE),
                                      (P.T_SECRET, bytes(20)), (P.T_ADMIN_KEY, new_key)])
    rec = record.load(card.hal)
    assert rec is not None and rec.serial == "DSC2" and rec.locked
    payload = s.seal(P.CMD_LOCK, 5, s.next_seq(), b"")
    assert error_code(card.ask(P.CMD_LOCK, payload, 5)) == P.ERR_AUTH_REQUIRED
    open_session(card, new_key, "DSC2")


def test_test_with_counter_suite_does_not_advance() -> None:
    card = Card()
    suite = "OCRA-1:HOTP-SHA512-8:C-QN08"
    card.ask(P.CMD_PROVISION, P.tlv_encode([
        (P.T_SERIAL, SERIAL), (P.T_SUITE, suite), (P.T_SECRET, SECRET), (P.T_ADMIN_KEY, ADMIN_KEY),
        (P.T_COUNTER, P.uint(5, 8))]))
    s = open_session(card)
    for _ in range(2):
        f = sealed(card, s, P.CMD_TEST, [(P.T_CHALLENGE, "12345678")])
        assert f[P.T_RESPONSE].decode() == ocra.response(suite, SECRET, "12345678", counter=5)


def test_test_with_bad_challenge() -> None:
    card = Card(provisioned=True)
    s = open_session(card)
    payload = s.seal(P.CMD_TEST, 5, s.next_seq(), P.tlv_encode([(P.T_CHALLENGE, "12ab"),
                                                               (P.T_PIN, "1234")]))
    assert error_code(card.ask(P.CMD_TEST, payload, 5)) == P.ERR_BAD_PAYLOAD


# --- damaged record, reboot, framing ---
def test_damaged_record_can_be_wiped_without_auth_not_overwritten() -> None:
    card = Card(provisioned=True)
    data = bytearray(card.hal.files["record"])
    data[30] ^= 0xFF
    card.hal.files["record"] = bytes(data)
    card.reboot()
    assert card.app.record is None and card.app.record_error
    info = P.tlv_decode(card.ask(P.CMD_INFO)[2])
    assert info[P.T_RECORD_ERROR] and info[P.T_PROVISIONED] == b"\x00"
    assert error_code(card.ask(P.CMD_PROVISION, provision_payload())) == P.ERR_RECORD
    assert card.ask(P.CMD_WIPE)[0] == P.CMD_WIPE | P.RSP_FLAG
    assert "record" not in card.hal.files
    assert card.ask(P.CMD_PROVISION, provision_payload())[0] == P.CMD_PROVISION | P.RSP_FLAG


def test_reboot_answers_then_asks_app() -> None:
    card = Card(provisioned=True)
    assert card.ask(P.CMD_REBOOT)[0] == P.CMD_REBOOT | P.RSP_FLAG
    assert card.app.reboots == 1
    assert error_code(card.ask(P.CMD_REBOOT, b"\x01\x00")) == P.ERR_BAD_PAYLOAD
    assert card.app.reboots == 1


def test_unknown_command_and_response_types() -> None:
    card = Card()
    for t in (0x00, 0x0B, 0x7F, P.CMD_INFO | P.RSP_FLAG, P.RSP_ERROR):
        assert error_code(card.ask(t)) == P.ERR_UNKNOWN_COMMAND


def test_garbage_is_silent_and_bad_frames_get_errors() -> None:
    card = Card()
    assert card.feed(b"hello\r\n\x03\x04>>> print(1)\r\n") == b""
    assert card.service.poll() is False  # nothing waiting
    raw = bytearray(P.frame_bytes(P.CMD_INFO, 3))
    raw[-1] ^= 0xFF
    out = P.Deframer().feed(card.feed(b"~" + binascii.b2a_base64(bytes(raw), newline=False) + b"\n"))
    assert out[0][:3] == (0, P.RSP_ERROR, 0)
    assert P.tlv_decode(out[0][3])[P.T_CODE][0] == P.ERR_FRAME_CRC


def test_several_frames_in_one_read() -> None:
    card = Card()
    out = P.Deframer().feed(card.feed(P.encode(P.CMD_INFO, 1) + b"noise" + P.encode(P.CMD_INFO, 2)))
    assert [(f[1], f[2]) for f in out] == [(P.CMD_INFO | P.RSP_FLAG, 1),
                                           (P.CMD_INFO | P.RSP_FLAG, 2)]
