"""Security properties over random command sequences (hypothesis):
- no output ever contains the secret or the admin key (raw, hex or base64);
- admin commands without AUTH, with a wrong admin key, or replayed are refused and change nothing;
- a legitimate admin's random session works and still leaks nothing.

On emulated cards on both emulator runtimes (fewer examples on MicroPython, where each exchange
crosses the bridge); each example starts from the same flash on a freshly powered card."""

from __future__ import annotations

import base64
import binascii
import os

from dsc import ocra
from dsc import protocol as P
from dsc import session as S
from emucards import EmuCard
from fakes import ADMIN_KEY, SECRET, SERIAL, SUITE, Card, CardTransport
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_tools.client import CardClient, CardError

WRONG_KEY = bytes(32)
ATTACK_EXAMPLES = {"cpython": 150, "micropython": 40}
SESSION_EXAMPLES = {"cpython": 60, "micropython": 20}


def forbidden(key: bytes) -> list[bytes]:
    """The key as raw bytes, hex (both cases) and base64 at each of the three alignments."""
    out = [key, binascii.hexlify(key), binascii.hexlify(key).upper()]
    for shift in range(3):
        for pad in range(3):
            b64 = base64.b64encode(bytes(pad) + key[shift:])
            out.append(b64[4:-4])  # the groups made of key bytes only
    return [x for x in out if len(x) >= 8]


NEEDLES = forbidden(SECRET) + forbidden(ADMIN_KEY)


def assert_no_leak(out: bytes) -> None:
    texts = [out] + [f[3] for f in P.Deframer().feed(out)]
    for text in texts:
        for needle in NEEDLES:
            assert needle not in text


def auth_frames(card: Card | EmuCard, key: bytes, rid: int = 1) -> bytes:
    """Run AUTH with `key`; returns everything the card wrote."""
    nh = os.urandom(16)
    out = card.feed(P.encode(P.CMD_AUTH_BEGIN, rid, P.tlv_encode([(P.T_NONCE, nh)])))
    frames = P.Deframer().feed(out)
    if frames and frames[0][1] == P.CMD_AUTH_BEGIN | P.RSP_FLAG:
        nc = P.tlv_decode(frames[0][3])[P.T_NONCE]
        proof = S.host_proof(key, nh, nc, SERIAL)
        out += card.feed(P.encode(P.CMD_AUTH_FINISH, rid + 1, P.tlv_encode([(P.T_PROOF, proof)])))
    return out


def legit_capture() -> list[bytes]:
    """Frames a legitimate admin sent to this card earlier: replaying them must achieve nothing."""
    card = Card(provisioned=True, seed=7)
    c = CardClient(CardTransport(card), timeout=0.05)
    sent: list[bytes] = []
    send = c.transport.send

    def spy(data: bytes) -> None:
        sent.append(data)
        send(data)

    c.transport.send = spy  # type: ignore[method-assign]
    c.authenticate(ADMIN_KEY)
    c.test("123456", "1234")
    c.set_config(pin_len=7)
    c.lock()
    c.wipe()
    return sent


CAPTURE = legit_capture()

ATTACKS = st.one_of(
    st.tuples(st.just("plain"), st.sampled_from([P.CMD_PROVISION, P.CMD_SET_CONFIG, P.CMD_TEST,
                                                   P.CMD_WIPE, P.CMD_LOCK]),
              st.sampled_from([b"", P.tlv_encode([(P.T_CHALLENGE, "123456"), (P.T_PIN, "1234")]),
                               P.tlv_encode([(P.T_SERIAL, "EVIL"), (P.T_SUITE, SUITE),
                                             (P.T_SECRET, bytes(20)),
                                             (P.T_ADMIN_KEY, WRONG_KEY)])])),
    st.tuples(st.just("wrong_key"), st.none(), st.none()),
    st.tuples(st.just("replay"), st.integers(0, len(CAPTURE) - 1), st.none()),
    st.tuples(st.just("info"), st.none(), st.none()),
    st.tuples(st.just("reboot"), st.none(), st.none()),
    st.tuples(st.just("wait"), st.integers(0, 4_000_000), st.none()),
)


def test_attacker_without_admin_key_changes_nothing(runtime: str) -> None:
    with EmuCard(runtime, provisioned=True, seed=3) as card:
        start = card.emu.flash.snapshot()
        before = card.state()

        @settings(max_examples=ATTACK_EXAMPLES[runtime], deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(st.lists(ATTACKS, min_size=1, max_size=25))
        def attack(steps: list[tuple[str, object, object]]) -> None:
            card.restore(start)
            run_attack(card, before, steps)

        attack()


def run_attack(card: EmuCard, before: dict[str, bytes],
               steps: list[tuple[str, object, object]]) -> None:
    for kind, a, b in steps:
        if kind == "plain":
            assert isinstance(a, int) and isinstance(b, bytes)
            out = card.feed(P.encode(a, 9, b))
            codes = [P.tlv_decode(f[3])[P.T_CODE][0] for f in P.Deframer().feed(out)]
            assert codes in ([P.ERR_AUTH_REQUIRED], [P.ERR_BAD_PAYLOAD]), codes
        elif kind == "wrong_key":
            out = auth_frames(card, WRONG_KEY)
            last = P.Deframer().feed(out)[-1]
            assert last[1] == P.RSP_ERROR
            assert P.tlv_decode(last[3])[P.T_CODE][0] in (P.ERR_AUTH_FAILED, P.ERR_AUTH_DELAY)
        elif kind == "replay":
            assert isinstance(a, int)
            out = card.feed(CAPTURE[a])
            for f in P.Deframer().feed(out):
                assert f[1] == P.RSP_ERROR or f[1] & ~P.RSP_FLAG in (P.CMD_INFO, P.CMD_AUTH_BEGIN)
        elif kind == "info":
            out = card.feed(P.encode(P.CMD_INFO, 1))
        elif kind == "reboot":
            out = card.feed(P.encode(P.CMD_REBOOT, 1))
            card.reboot()
        else:
            assert isinstance(a, int)
            card.advance(a)
            out = b""
        assert_no_leak(out)
        assert card.state() == before
        rec = card.record()
        assert rec is not None and not rec.locked and not card.repl_locked


LEGIT = st.sampled_from(["info", "test", "config", "lock", "auth", "wrong_auth", "reprovision"])


def test_admin_session_never_leaks(runtime: str) -> None:
    with EmuCard(runtime, provisioned=True, seed=5) as card:
        start = card.emu.flash.snapshot()

        @settings(max_examples=SESSION_EXAMPLES[runtime], deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(st.lists(LEGIT, min_size=1, max_size=12),
               st.text("0123456789", min_size=6, max_size=6))
        def session(steps: list[str], challenge: str) -> None:
            card.restore(start)
            run_session(card, steps, challenge)

        session()


def run_session(card: EmuCard, steps: list[str], challenge: str) -> None:
    wire = bytearray()
    t = CardTransport(card)
    receive = t.receive

    def tap(timeout: float) -> bytes:
        data = receive(timeout)
        wire.extend(data)
        return data

    t.receive = tap  # type: ignore[method-assign]
    c = CardClient(t, timeout=0.05)
    c.authenticate(ADMIN_KEY)
    for step in steps:
        card.advance(5_000)  # time passes, well inside the session idle limit
        try:
            if step == "info":
                assert c.info().serial_number == SERIAL
            elif step == "test":
                assert c.test(challenge, "1234") == ocra.response(SUITE, SECRET, challenge,
                                                                  pin="1234")
            elif step == "config":
                c.set_config(idle_ms=20_000)
            elif step == "lock":
                c.lock()
            elif step == "auth":
                c.authenticate(ADMIN_KEY)
            elif step == "wrong_auth":
                wire.extend(auth_frames(card, WRONG_KEY, 500))
                card.advance(1000)  # the wait after one wrong proof
                c.authenticate(ADMIN_KEY)
            else:
                c.provision(SERIAL, SUITE, SECRET, ADMIN_KEY)
                c.authenticate(ADMIN_KEY)
        except CardError as e:
            raise AssertionError(f"{step}: {e}") from None
    assert_no_leak(bytes(wire))


def test_leak_detector_catches_every_encoding() -> None:
    for encoded in (SECRET, binascii.hexlify(ADMIN_KEY), base64.b64encode(b"x" + SECRET),
                    P.encode(P.CMD_INFO | P.RSP_FLAG, 1, b"\x30\x20" + SECRET)):
        try:
            assert_no_leak(b"prefix " + encoded + b" suffix")
        except AssertionError:
            continue
        raise AssertionError("the leak detector missed an encoding")
