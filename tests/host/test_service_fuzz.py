"""Fuzz: random and mutated frames never raise out of poll(), never change the card, and get an
error response or silence (read-only commands excepted: INFO, AUTH_BEGIN, REBOOT answer).

Run on an emulated card on both emulator runtimes: the firmware on CPython, and on the MicroPython
unix port, where each exchange is a trip through the bridge. The MicroPython run feeds fewer frames
(FRAMES_PER_RUN) to keep `make test` short. Each example starts from the same flash on a freshly
powered card. The cards are production builds: on a development card a Ctrl-C byte (0x03) in the
noise would hand the line to the REPL, as on a board, instead of to the firmware."""

from __future__ import annotations

import os

from dsc import protocol as P
from dsc import session as S
from emucards import EmuCard
from fakes import ADMIN_KEY, SERIAL, Card
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Frames fed per run, and the hypothesis examples that feed them (25-40 lines each).
FRAMES_PER_RUN = {"cpython": 10_000, "micropython": 3_000}
EXAMPLES = {"cpython": 400, "micropython": 130}
BLANK_EXAMPLES = {"cpython": 150, "micropython": 50}
# A card may answer these with a response rather than an error: they change nothing.
READ_ONLY = {P.CMD_INFO, P.CMD_AUTH_BEGIN, P.CMD_REBOOT}


def captured_session_frames() -> list[bytes]:
    """Genuine sealed frames of an earlier session with this card (for replay and mutation)."""
    card = Card(provisioned=True, seed=99)
    nh = os.urandom(16)
    nc = P.tlv_decode(card.ask(P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, nh)]))[2])[P.T_NONCE]
    finish = P.tlv_encode([(P.T_PROOF, S.host_proof(ADMIN_KEY, nh, nc, SERIAL))])
    s = S.Session(ADMIN_KEY, nh, nc, SERIAL, False)
    out = [P.encode(P.CMD_AUTH_BEGIN, 1, P.tlv_encode([(P.T_NONCE, nh)])),
           P.encode(P.CMD_AUTH_FINISH, 2, finish)]
    for ftype, fields in ((P.CMD_WIPE, b""), (P.CMD_LOCK, b""),
                          (P.CMD_SET_CONFIG, P.tlv_encode([(P.T_PIN_LEN, 8)])),
                          (P.CMD_PROVISION, P.tlv_encode([(P.T_SERIAL, "X")]))):
        out.append(P.encode(ftype, 3, s.seal(ftype, 3, s.next_seq(), fields)))
    return out


CAPTURED = captured_session_frames()

tlv_items = st.lists(st.tuples(st.sampled_from([0x01, 0x10, 0x13, 0x20, 0x21, 0x30, 0x31, 0x32,
                                                0x33, 0x40, 0x41, 0x42, 0x99]),
                               st.binary(max_size=40)), max_size=6)
payloads = st.one_of(st.binary(max_size=80), tlv_items.map(P.tlv_encode),
                     st.builds(lambda seq, body: seq.to_bytes(4, "big") + body,
                               st.integers(0, 2**32 - 1), st.binary(max_size=60)))
frame_types = st.one_of(st.integers(0, 255), st.sampled_from([*range(1, 10), 0x81, 0xFF]))
valid_lines = st.one_of(
    st.builds(P.encode, frame_types, st.integers(0, 0xFFFF), payloads),
    st.sampled_from(CAPTURED))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    line = bytearray(draw(valid_lines))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "drop_nl", "dup"]))
        i = draw(st.integers(0, max(0, len(line) - 1)))
        if op == "flip" and line:
            line[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del line[i:]
        elif op == "insert":
            line[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "drop_nl" and line.endswith(b"\n"):
            line.pop()
        elif op == "dup":
            line[i:i] = line[i:i + draw(st.integers(1, 20))]
    return bytes(line)


chunks = st.one_of(valid_lines, mutated(), st.binary(max_size=40),
                   st.binary(max_size=30).map(lambda b: b"~" + b))


def check_output(out: bytes, allow_answers: bool) -> None:
    for err, rtype, _rid, payload in P.Deframer().feed(out):
        assert err == 0  # the card only ever writes well-formed frames
        if rtype == P.RSP_ERROR:
            # Every refusal has its own code; ERR_INTERNAL would be a bug in the handler
            # (on MicroPython every refusal once came out as one).
            assert P.tlv_decode(payload)[P.T_CODE][0] != P.ERR_INTERNAL
        else:
            assert allow_answers and rtype & ~P.RSP_FLAG in READ_ONLY, hex(rtype)


def run_fuzz(runtime: str) -> int:
    fed = 0
    card = EmuCard(runtime, provisioned=True, production=True)
    start = card.emu.flash.snapshot()
    before, record = card.state(), card.record()
    assert record is not None

    @settings(max_examples=EXAMPLES[runtime], deadline=None, derandomize=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(chunks, min_size=25, max_size=40), st.integers(1, 64))
    def fuzz(lines: list[bytes], split: int) -> None:
        nonlocal fed
        card.restore(start)
        stream = b"".join(lines)
        out = b""
        for i in range(0, len(stream), split * 17):  # delivered in uneven pieces
            out += card.feed(stream[i:i + split * 17])
        out += card.feed(b"\n")  # flush a last partial line
        check_output(out, allow_answers=True)
        assert card.state() == before
        now = card.record()
        assert now is not None and vars(now) == vars(record) and not now.locked
        fed += len(lines)

    with card:
        fuzz()
    return fed


def test_fuzz_provisioned_card(runtime: str) -> None:
    assert run_fuzz(runtime) >= FRAMES_PER_RUN[runtime]


def test_fuzz_blank_card_never_takes_garbage(runtime: str) -> None:
    # A blank card accepts a well-formed PROVISION in the clear, so the blank-card run feeds
    # only frames that are damaged on the wire: none of them may be taken.
    card = EmuCard(runtime, production=True)

    @settings(max_examples=BLANK_EXAMPLES[runtime], deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(st.one_of(mutated(), st.binary(max_size=40)), min_size=10, max_size=20))
    def fuzz(lines: list[bytes]) -> None:
        for line in lines:
            frames = P.Deframer().feed(line + b"\n")
            if any(f[0] == 0 and f[1] == P.CMD_PROVISION for f in frames):
                continue  # the mutation happened to leave a valid PROVISION frame
            check_output(card.feed(line + b"\n"), allow_answers=True)
        assert card.files == {} and card.record() is None

    with card:
        fuzz()
