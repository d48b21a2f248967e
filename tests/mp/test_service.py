# Every refusal of the card's service handler (dsc.service) answers with its own status code on
# the VM it runs on: AUTH required, AUTH failed, AUTH delay (with its retry time), bad payload,
# bad suite, bad state, unknown command, not provisioned, session, record and storage. The
# firmware's real App runs on a fake HAL; frames go in and out through its serial buffers.
# Runs on CPython and both MicroPython VMs (on MicroPython a refusal once became ERR_INTERNAL).
from dsc import protocol as P
from dsc import record
from dsc import session as S
from dsc.app import App
from fakehal import FakeHal
from mptest import main, test

SERIAL = "DSC00000042"
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
SECRET = b"12345678901234567890123456789012"
ADMIN = bytes(range(0xA0, 0xC0))
NH = bytes(range(16))


class FullHal(FakeHal):
    """A flash that refuses every write (full, or worn out)."""

    def fs_write(self, name, data):
        raise OSError(28)


def card(provisioned=True, hal=None):
    hal = hal if hal is not None else FakeHal()
    if provisioned:
        record.save(hal, record.Record(SERIAL, SUITE, SECRET, ADMIN))
    return App(hal), hal


def exchange(app, hal, ftype, payload=b"", rid=7):
    """Send one frame; return the one answer as (type, request id, TLV fields)."""
    hal.rx = bytearray(P.encode(ftype, rid, payload))
    app.step()
    frames = P.Deframer().feed(bytes(hal.tx))
    hal.tx = bytearray()
    assert len(frames) == 1, frames
    err, rtype, rrid, body = frames[0]
    assert err == 0 and rrid == rid, frames
    return rtype, body


def refusal(app, hal, ftype, payload=b""):
    rtype, body = exchange(app, hal, ftype, payload)
    assert rtype == P.RSP_ERROR, hex(rtype)
    return P.tlv_decode(body)


def code(app, hal, ftype, payload=b""):
    return refusal(app, hal, ftype, payload)[P.T_CODE][0]


def begin(app, hal):
    rtype, body = exchange(app, hal, P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, NH)]))
    assert rtype == P.CMD_AUTH_BEGIN | P.RSP_FLAG, hex(rtype)
    return P.tlv_decode(body)[P.T_NONCE]


def finish(app, hal, key, nc):
    payload = P.tlv_encode([(P.T_PROOF, S.host_proof(key, NH, nc, SERIAL))])
    return exchange(app, hal, P.CMD_AUTH_FINISH, payload)


def session(app, hal):
    nc = begin(app, hal)
    assert finish(app, hal, ADMIN, nc)[0] == P.CMD_AUTH_FINISH | P.RSP_FLAG
    return S.Session(ADMIN, NH, nc, SERIAL, False)


def provision_payload(admin=ADMIN):
    return P.tlv_encode([(P.T_SERIAL, SERIAL), (P.T_SUITE, SUITE), (P.T_SECRET, SECRET),
                         (P.T_ADMIN_KEY, admin)])


@test
def test_auth_required():
    app, hal = card()
    for cmd in (P.CMD_SET_CONFIG, P.CMD_TEST, P.CMD_WIPE, P.CMD_LOCK, P.CMD_PROVISION):
        assert code(app, hal, cmd) == P.ERR_AUTH_REQUIRED, cmd
    assert app.record is not None and not app.record.locked


@test
def test_auth_failed_then_delay_with_its_retry_time():
    app, hal = card()
    nc = begin(app, hal)
    rtype, body = finish(app, hal, bytes(32), nc)
    assert rtype == P.RSP_ERROR and P.tlv_decode(body)[P.T_CODE][0] == P.ERR_AUTH_FAILED
    f = refusal(app, hal, P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, NH)]))
    assert f[P.T_CODE][0] == P.ERR_AUTH_DELAY
    assert P.to_uint(f[P.T_RETRY_MS], 4) == S.BASE_DELAY_MS
    hal.t += 400
    f = refusal(app, hal, P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, NH)]))
    assert P.to_uint(f[P.T_RETRY_MS], 4) == S.BASE_DELAY_MS - 400
    hal.t += 600
    session(app, hal)  # the wait is over: the right key opens a session


@test
def test_bad_payload_and_bad_suite():
    app, hal = card(provisioned=False)
    assert code(app, hal, P.CMD_INFO, b"\x10") == P.ERR_BAD_PAYLOAD  # truncated TLV
    assert code(app, hal, P.CMD_PROVISION, provision_payload(admin=bytes(8))) == P.ERR_BAD_PAYLOAD
    bad = P.tlv_encode([(P.T_SERIAL, SERIAL), (P.T_SUITE, "OCRA-2:HOTP-SHA1-6:QN08"),
                        (P.T_SECRET, SECRET), (P.T_ADMIN_KEY, ADMIN)])
    assert code(app, hal, P.CMD_PROVISION, bad) == P.ERR_BAD_SUITE
    assert app.record is None and not hal.flash


@test
def test_bad_state_and_unknown_command():
    app, hal = card()
    proof = P.tlv_encode([(P.T_PROOF, bytes(32))])
    assert code(app, hal, P.CMD_AUTH_FINISH, proof) == P.ERR_BAD_STATE
    for t in (0x00, 0x0B, 0x7F, P.RSP_ERROR):
        assert code(app, hal, t) == P.ERR_UNKNOWN_COMMAND, t


@test
def test_not_provisioned():
    app, hal = card(provisioned=False)
    assert code(app, hal, P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, NH)])) == \
        P.ERR_NOT_PROVISIONED
    for cmd in (P.CMD_SET_CONFIG, P.CMD_TEST, P.CMD_LOCK):
        assert code(app, hal, cmd) == P.ERR_NOT_PROVISIONED, cmd


@test
def test_session_refusal_closes_the_session():
    app, hal = card()
    host = session(app, hal)
    sealed = bytearray(host.seal(P.CMD_LOCK, 7, host.next_seq(), b""))
    sealed[-1] ^= 1
    assert code(app, hal, P.CMD_LOCK, bytes(sealed)) == P.ERR_SESSION
    assert code(app, hal, P.CMD_LOCK, host.seal(P.CMD_LOCK, 7, host.next_seq(), b"")) == \
        P.ERR_AUTH_REQUIRED
    assert not app.record.locked


@test
def test_record_refusal_on_a_damaged_record():
    hal = FakeHal()
    record.save(hal, record.Record(SERIAL, SUITE, SECRET, ADMIN))
    data = bytearray(hal.flash["record"])
    data[30] ^= 0xFF
    hal.flash["record"] = bytes(data)
    app = App(hal)
    assert app.record is None and app.record_error
    assert code(app, hal, P.CMD_PROVISION, provision_payload()) == P.ERR_RECORD
    assert hal.flash["record"] == bytes(data)


@test
def test_storage_refusal_keeps_the_old_state():
    hal = FullHal()
    app = App(hal)
    assert code(app, hal, P.CMD_PROVISION, provision_payload()) == P.ERR_STORAGE
    assert app.record is None and not hal.flash
    # AUTH counts the attempt in flash before it checks the proof: no flash, no check.
    hal = FullHal()
    hal.flash["record"] = record.encode(record.Record(SERIAL, SUITE, SECRET, ADMIN))
    app = App(hal)
    nc = begin(app, hal)
    rtype, body = finish(app, hal, ADMIN, nc)
    assert rtype == P.RSP_ERROR and P.tlv_decode(body)[P.T_CODE][0] == P.ERR_STORAGE


@test
def test_a_refusal_keeps_the_session_open():
    # Only ERR_INTERNAL (a bug) and ERR_SESSION close a session; a refused field does not.
    app, hal = card()
    host = session(app, hal)
    payload = host.seal(P.CMD_SET_CONFIG, 7, host.next_seq(), P.tlv_encode([(P.T_PIN_LEN, 2)]))
    assert code(app, hal, P.CMD_SET_CONFIG, payload) == P.ERR_BAD_PAYLOAD
    payload = host.seal(P.CMD_LOCK, 7, host.next_seq(), b"")
    rtype, _body = exchange(app, hal, P.CMD_LOCK, payload)
    assert rtype == P.CMD_LOCK | P.RSP_FLAG and app.record.locked


main()
