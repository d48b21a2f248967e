"""The host client (host_tools.client) against the card's handler through an in-process
transport, and the pyserial transport over loop://."""

from __future__ import annotations

import base64
import os
import time
import tty

import pytest
from dsc import ocra
from dsc import protocol as P
from emucards import EmuCard, MakeCard
from fakes import ADMIN_KEY, SECRET, SERIAL, SUITE, Card, CardTransport

from host_tools.client import (
    AuthenticationFailed,
    AuthenticationRequired,
    CardBusy,
    CardClient,
    CardInfo,
    CardRejected,
    CardTimeout,
    NotProvisioned,
    ProtocolError,
    SessionLost,
)
from host_tools.errors import DscError
from host_tools.transport import CardNotFound, TransportError, open_transport


def client(card: Card | EmuCard, **kw: object) -> CardClient:
    return CardClient(CardTransport(card, **kw), timeout=0.05)  # type: ignore[arg-type]


def test_blank_card_life_cycle(make_card: MakeCard) -> None:
    card = make_card()
    c = client(card)
    info = c.info()
    # Free flash and battery are the emulated board's.
    assert info == CardInfo(None, "0.1.0", "pico", None, False, False, 1441792, 3900)
    with pytest.raises(NotProvisioned):
        c.authenticate(ADMIN_KEY)
    c.provision(SERIAL, SUITE, SECRET, ADMIN_KEY, pin_len=4, idle_ms=20000, response_ms=40000)
    info = c.info()
    assert (info.serial_number, info.suite, info.provisioned) == (SERIAL, SUITE, True)
    c.authenticate(ADMIN_KEY)
    assert c.test("123456", "1234") == ocra.response(SUITE, SECRET, "123456", pin="1234")
    c.set_config(pin_len=5)
    assert card.record() is not None and card.record().pin_len == 5
    c.lock()
    assert c.info().locked
    c.wipe()
    assert not c.info().provisioned and card.record() is None


def test_commands_need_a_session(make_card: MakeCard) -> None:
    c = client(make_card(provisioned=True))
    for call in (lambda: c.test("123456", "1234"), c.lock, lambda: c.set_config(pin_len=4)):
        with pytest.raises(AuthenticationRequired):
            call()
    with pytest.raises(AuthenticationRequired):
        c.wipe()  # without a session the card itself refuses
    with pytest.raises(AuthenticationRequired):
        c.provision(SERIAL, SUITE, SECRET, ADMIN_KEY)


def test_wrong_admin_key(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    c = client(card)
    with pytest.raises(AuthenticationFailed) as e:
        c.authenticate(bytes(32))
    assert "wrong admin key" in str(e.value) and not c.authenticated
    assert card.record() is not None


def test_card_busy_after_wrong_attempts(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    # A wrong attempt: a host without the admin key sends a proof anyway (the client itself
    # would stop at the card's proof).
    card.ask(P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, bytes(16))]))
    card.ask(P.CMD_AUTH_FINISH, P.tlv_encode([(P.T_PROOF, bytes(32))]))
    with pytest.raises(CardBusy) as e:
        client(card).authenticate(ADMIN_KEY)
    # An emulated card spends up to a poll period of virtual time on each exchange.
    assert 970 <= e.value.retry_after_ms <= 1000 and "retry in 1.0 s" in str(e.value)
    card.advance(1000)
    client(card).authenticate(ADMIN_KEY)


def test_reprovision_in_session_needs_new_auth(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    c = client(card)
    c.authenticate(ADMIN_KEY)
    new_key = bytes(range(1, 33))
    c.provision("DSC7", SUITE, bytes(20), new_key)
    assert not c.authenticated
    with pytest.raises(AuthenticationFailed):
        c.authenticate(ADMIN_KEY)
    c.authenticate(new_key)
    assert c.test("000000", "1111") == ocra.response(SUITE, bytes(20), "000000", pin="1111")


def test_card_rejections_are_typed(make_card: MakeCard) -> None:
    c = client(make_card())
    with pytest.raises(CardRejected, match="suite"):
        c.provision(SERIAL, "OCRA-1:HOTP-MD5-6:QN06", SECRET, ADMIN_KEY)
    with pytest.raises(CardRejected):
        c.provision(SERIAL, SUITE, SECRET, ADMIN_KEY, pin_len=99)
    with pytest.raises(CardRejected):
        c.provision(SERIAL, SUITE, SECRET, ADMIN_KEY, idle_ms=-1)
    with pytest.raises(CardRejected):
        c.provision(SERIAL, SUITE, bytes(300), ADMIN_KEY)


def test_retry_on_lost_answer_for_idempotent_commands(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    c = client(card, drop=1)
    assert c.info().serial_number == SERIAL
    c.authenticate(ADMIN_KEY)
    c.transport.drop = 1  # type: ignore[attr-defined]
    assert c.test("123456", "1234") == ocra.response(SUITE, SECRET, "123456", pin="1234")


def test_no_retry_for_non_idempotent_commands(make_card: MakeCard) -> None:
    card = make_card()
    c = client(card, drop=1)
    c.retries = 5
    with pytest.raises(CardTimeout):
        c.provision(SERIAL, SUITE, SECRET, ADMIN_KEY)
    assert c.transport.drop == 0  # type: ignore[attr-defined]  (sent once)


def test_noise_and_debug_prints_are_ignored(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    c = client(card, noise=b"debug: ~oops\r\nMicroPython v1.22\r\n>>> ")
    c.authenticate(ADMIN_KEY)
    assert c.test("123456", "1234") == ocra.response(SUITE, SECRET, "123456", pin="1234")


def test_session_lost_when_card_closed_it() -> None:
    card = Card(provisioned=True)
    c = client(card)
    c.authenticate(ADMIN_KEY)
    card.hal.t += 200_000  # idle: the card closed it
    with pytest.raises(AuthenticationRequired, match="closed the session"):
        c.lock()
    assert not c.authenticated
    c.authenticate(ADMIN_KEY)
    card.service._session.seq = 10**6  # type: ignore[union-attr]  (as if frames were replayed)
    with pytest.raises(SessionLost):
        c.lock()
    assert not c.authenticated


def test_forged_card_answer_detected(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    c = client(card)
    c.authenticate(ADMIN_KEY)

    class Tamper(CardTransport):
        def receive(self, timeout: float) -> bytes:
            frames = P.Deframer().feed(super().receive(timeout))
            out = b""
            for _err, t, rid, payload in frames:
                forged = bytearray(payload)
                forged[5] ^= 1
                out += P.encode(t, rid, bytes(forged))
            return out

    c.transport = Tamper(card)
    with pytest.raises(SessionLost):
        c.test("123456", "1234")


def test_errors_are_dsc_errors() -> None:
    for cls in (AuthenticationFailed, CardBusy, NotProvisioned, ProtocolError, CardTimeout,
                CardNotFound, SessionLost, CardRejected):
        assert issubclass(cls, DscError)


def test_malformed_info_is_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        CardInfo.from_payload(b"\x10\x05ab")
    with pytest.raises(ProtocolError):
        CardInfo.from_payload(P.tlv_encode([(P.T_SERIAL, "x")]))


# --- the pyserial transport ---
def test_loop_transport_echoes_frames() -> None:
    with open_transport("loop://") as t:
        t.send(P.encode(P.CMD_INFO, 5))
        data = t.receive(0.5)
        assert P.Deframer().feed(data) == [(0, P.CMD_INFO, 5, b"")]
        assert t.receive(0.05) == b""


def test_open_transport_errors() -> None:
    with pytest.raises(CardNotFound, match="cannot open /nonexistent/tty"):
        open_transport("/nonexistent/tty")
    with pytest.raises(CardNotFound):
        open_transport("")
    with pytest.raises(CardNotFound):
        open_transport("bogus://x")


def test_client_times_out_on_silent_port() -> None:
    with open_transport("loop://") as t:
        # loop:// echoes our request back: that is not an answer, so the client times out.
        c = CardClient(t, timeout=0.1, retries=1)
        with pytest.raises(CardTimeout):
            c.info()


# --- what the client says when the card does not answer ---
class Garble(CardTransport):
    """The line flips a bit in every line the host sends: the card reads none of them."""

    def send(self, data: bytes) -> None:
        super().send(data[:5] + bytes([data[5] ^ 0x01]) + data[6:])


def test_timeout_says_the_card_could_not_read_our_frames(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    c = CardClient(Garble(card), timeout=0.05, retries=2)
    with pytest.raises(CardTimeout, match=r"within 0.05 s \(3 tries\); it could not read our "
                                          r"frames \((CRC|base64)\): a noisy line"):
        c.info()
    with pytest.raises(CardTimeout, match=r"\(2 tries\): is it running the OpenDSC firmware"):
        CardClient(CardTransport(make_card(), drop=2), timeout=0.05, retries=1).info()  # silence


class OtherVersion(CardTransport):
    """A card of protocol version 2: its frames pass the CRC but carry version 2."""

    def receive(self, timeout: float) -> bytes:
        out = b""
        for _err, t, rid, payload in P.Deframer().feed(super().receive(timeout)):
            body = bytes([2, t]) + rid.to_bytes(2, "big") + len(payload).to_bytes(2, "big")
            body += payload
            out += b"~" + base64.b64encode(body + P.crc32(body).to_bytes(4, "big")) + b"\n"
        return out


def test_card_of_another_protocol_version_is_named_at_once(make_card: MakeCard) -> None:
    c = CardClient(OtherVersion(make_card()), timeout=5.0)
    t0 = time.monotonic()
    with pytest.raises(ProtocolError, match="another protocol version"):
        c.info()
    assert time.monotonic() - t0 < 1.0  # not after the timeout and its retries
    # An older card refuses our version 1 the same way (an error with request id 0).
    c = client(make_card(), noise=P.encode(P.RSP_ERROR, 0, P.error_payload(P.ERR_FRAME_VERSION)))
    with pytest.raises(ProtocolError, match="another protocol version"):
        c.info()


def test_zero_digit_suite_answers_the_whole_hmac_in_hex(make_card: MakeCard) -> None:
    # RFC 6287 allows HOTP-SHAx-0: no truncation, the response is the HMAC in hex.
    c = client(make_card())
    c.provision(SERIAL, "OCRA-1:HOTP-SHA1-0:QN08", SECRET, ADMIN_KEY)
    c.authenticate(ADMIN_KEY)
    got = c.test("12345678")
    assert got == ocra.response("OCRA-1:HOTP-SHA1-0:QN08", SECRET, "12345678") and len(got) == 40


def test_unplugged_card_is_one_clear_line() -> None:
    # The pty's other end goes away (an emulator killed, a USB card pulled).
    master, slave = os.openpty()
    tty.setraw(slave)
    t = open_transport(os.ttyname(slave))
    try:
        os.close(master)
        with pytest.raises(TransportError, match=r"^lost the card on /dev/\S+ \(writing to it "
                                                 r"failed\): unplugged or reset\?$"):
            CardClient(t, timeout=0.5).info()
        with pytest.raises(TransportError, match=r"^lost the card on .*\(reading from it"):
            t.receive(0.5)
    finally:
        t.close()
        os.close(slave)


def test_open_errors_say_what_to_do() -> None:
    with pytest.raises(CardNotFound, match=r"^cannot open /dev/nonexistent-tty: no such port "
                                           r"\(is the card plugged in\?\)$"):
        open_transport("/dev/nonexistent-tty")


def test_no_clear_provision_to_a_card_known_provisioned(make_card: MakeCard) -> None:
    card = make_card(provisioned=True)
    t = CardTransport(card)
    sent: list[bytes] = []
    send = t.send
    t.send = lambda data: (sent.append(data), send(data))[1]  # type: ignore[method-assign]
    c = CardClient(t, timeout=0.05)
    assert c.info().provisioned
    with pytest.raises(AuthenticationRequired, match="never goes to it in the clear"):
        c.provision(SERIAL, SUITE, bytes(range(32)), ADMIN_KEY)
    assert [f[1] for f in P.Deframer().feed(b"".join(sent))] == [P.CMD_INFO]
    c.authenticate(ADMIN_KEY)  # inside a session it goes, sealed
    c.provision(SERIAL, SUITE, bytes(range(32)), ADMIN_KEY)
    assert card.record() is not None and card.record().secret == bytes(range(32))
    assert all(bytes(range(32)) not in f[3] for f in P.Deframer().feed(b"".join(sent)))


def test_timeout_on_a_card_sitting_in_its_repl() -> None:
    # A development card whose firmware a Ctrl-C stopped: its console answers a line with a
    # traceback and the ">>> " prompt, never with a frame.
    class Repl(CardTransport):
        def send(self, data: bytes) -> None:
            self.pending += data.replace(b"\n", b"\r\n") + (
                b"Traceback (most recent call last):\r\n  File \"<stdin>\", line 1\r\n"
                b"SyntaxError: invalid syntax\r\n>>> ")

    hint = "the port echoes our lines or shows MicroPython's REPL, so the firmware is not running"
    with pytest.raises(CardTimeout, match=hint):
        CardClient(Repl(Card()), timeout=0.05, retries=1).info()
    with open_transport("loop://") as t, pytest.raises(CardTimeout, match=hint):
        CardClient(t, timeout=0.05, retries=1).info()  # an echo, no prompt
