# The service-protocol codec (dsc.protocol) on CPython and both MicroPython VMs: round trips,
# byte-exact frames, the streaming deframer's resynchronisation, and the TLV codec.
from dsc import protocol as P
from dsc import session as S
from mptest import main, raises, test


@test
def test_info_request_bytes():
    # The first example of docs/protocol.md.
    assert P.frame_bytes(P.CMD_INFO, 1) == bytes([1, 1, 0, 1, 0, 0, 0x46, 0x3C, 0x31, 0x81])
    assert P.encode(P.CMD_INFO, 1) == b"~AQEAAQAARjwxgQ==\n"


@test
def test_round_trip_every_size():
    for size in (0, 1, 2, 3, 100, 511, P.MAX_PAYLOAD):
        payload = bytes((i * 7) & 0xFF for i in range(size))
        line = P.encode(0x42, 0xBEEF, payload)
        assert line[0:1] == b"~" and line[-1:] == b"\n"
        assert len(line) - 2 <= P.MAX_LINE
        assert P.decode_line(line[1:-1]) == (0, 0x42, 0xBEEF, payload)
        assert P.Deframer().feed(line) == [(0, 0x42, 0xBEEF, payload)]


@test
def test_payload_too_long_refused():
    raises(ValueError, P.frame_bytes, 1, 1, bytes(P.MAX_PAYLOAD + 1))
    raises(ValueError, P.frame_bytes, 256, 1, b"")
    raises(ValueError, P.frame_bytes, 1, 0x10000, b"")


@test
def test_wire_has_no_repl_control_bytes():
    line = P.encode(0xFF, 0xFFFF, bytes(range(256)) + bytes(range(256)))
    for b in line[:-1]:
        assert 0x20 < b < 0x7F, b


@test
def test_byte_by_byte_feed():
    line = P.encode(P.CMD_TEST, 7, b"\x40\x06123456")
    d = P.Deframer()
    got = []
    for i in range(len(line)):
        got += d.feed(line[i:i + 1])
    assert got == [(0, P.CMD_TEST, 7, b"\x40\x06123456")]


@test
def test_garbage_between_frames_is_skipped():
    a = P.encode(1, 1)
    b = P.encode(2, 2, b"xyz")
    d = P.Deframer()
    got = d.feed(b"\x01\x02\x03\x04 MicroPython v1.22 >>> " + a + b"debug print\r\n" + b)
    assert got == [(0, 1, 1, b""), (0, 2, 2, b"xyz")]


@test
def test_crlf_tolerated():
    line = P.encode(3, 3, b"ok")
    assert P.Deframer().feed(line[:-1] + b"\r\n") == [(0, 3, 3, b"ok")]


@test
def test_bad_crc():
    raw = bytearray(P.frame_bytes(1, 9, b"abc"))
    raw[-1] ^= 1
    assert P.decode_frame(bytes(raw))[0] == P.ERR_FRAME_CRC


@test
def test_bad_version():
    raw = bytearray(P.frame_bytes(1, 9, b"abc"))
    raw[0] = 2
    body = bytes(raw[:-4])
    fixed = body + P.crc32(body).to_bytes(4, "big")
    assert P.decode_frame(fixed)[0] == P.ERR_FRAME_VERSION


@test
def test_bad_lengths():
    raw = P.frame_bytes(1, 9, b"abc")
    assert P.decode_frame(raw[:-1])[0] == P.ERR_FRAME_LENGTH
    assert P.decode_frame(raw + b"\x00")[0] == P.ERR_FRAME_LENGTH
    assert P.decode_frame(b"")[0] == P.ERR_FRAME_LENGTH
    # A length field above MAX_PAYLOAD, with a matching CRC.
    body = bytes([1, 1, 0, 1, 0x02, 0x01]) + bytes(513)
    assert P.decode_frame(body + P.crc32(body).to_bytes(4, "big"))[0] == P.ERR_FRAME_LENGTH


@test
def test_bad_base64():
    d = P.Deframer()
    assert d.feed(b"~AQEAA!QAARjwxgQ==\n") == [(P.ERR_FRAME_BASE64, 0, 0, b"")]
    assert d.feed(b"~AQEAAQAARjwxgQ=\n") == [(P.ERR_FRAME_BASE64, 0, 0, b"")]
    # Non-canonical: the last character carries bits that base64 would have set to zero.
    assert d.feed(b"~AQEAAQAARjwxgR==\n") == [(P.ERR_FRAME_BASE64, 0, 0, b"")]
    # The deframer still works afterwards.
    assert d.feed(P.encode(1, 1)) == [(0, 1, 1, b"")]


@test
def test_tilde_inside_line_resynchronises():
    line = P.encode(5, 5, b"p")
    d = P.Deframer()
    assert d.feed(b"~AQEA" + line) == [(P.ERR_FRAME_LENGTH, 0, 0, b""), (0, 5, 5, b"p")]


@test
def test_overlong_line_bounded_and_skipped():
    d = P.Deframer()
    got = d.feed(b"~" + b"A" * 5000)
    assert got == [(P.ERR_FRAME_LENGTH, 0, 0, b"")]
    assert d.feed(b"B" * 5000 + b"\n") == []  # still skipping, reported once
    assert d.feed(P.encode(1, 2)) == [(0, 1, 2, b"")]
    assert len(d._buf) == P.MAX_LINE + 1


@test
def test_tlv_round_trip():
    items = [(P.T_SERIAL, "DSC00000042"), (P.T_PIN_LEN, 4), (P.T_SECRET, bytes(range(64)))]
    raw = P.tlv_encode(items)
    assert raw[:13] == b"\x10\x0bDSC00000042"
    assert P.tlv_decode(raw) == {P.T_SERIAL: b"DSC00000042", P.T_PIN_LEN: b"\x04",
                                 P.T_SECRET: bytes(range(64))}


@test
def test_tlv_rejects():
    raises(ValueError, P.tlv_decode, b"\x10")
    raises(ValueError, P.tlv_decode, b"\x10\x05abc")
    raises(ValueError, P.tlv_decode, b"\x10\x01a\x10\x01b")
    raises(ValueError, P.tlv_decode, b"\x10\x01a", (P.T_SUITE,))
    raises(ValueError, P.tlv_encode, [(1, bytes(256))])
    assert P.tlv_decode(b"") == {}


@test
def test_uint_fields():
    assert P.uint(30000, 4) == b"\x00\x00\x75\x30"
    assert P.to_uint(b"\x00\x00\x75\x30", 4) == 30000
    raises(ValueError, P.to_uint, b"\x00\x75\x30", 4)
    assert P.error_payload(P.ERR_AUTH_DELAY, 2000) == b"\x01\x01\x22\x02\x04\x00\x00\x07\xd0"


@test
def test_crc32_matches_fallback():
    saved = P._crc32
    try:
        P._crc32 = None
        slow = P.crc32(b"123456789")
    finally:
        P._crc32 = saved
    assert slow == P.crc32(b"123456789") == 0xCBF43926


# The worked example of docs/protocol.md (tests/host/test_protocol_doc.py checks the doc itself).
_K = bytes(range(0xA0, 0xC0))
_NH = bytes(range(16))
_NC = bytes(range(16, 32))


@test
def test_session_example_on_vm():
    import binascii
    assert binascii.hexlify(S.card_proof(_K, _NH, _NC, "DSC00000042")) == \
        b"38d3919a99ce81950294c4627db61c7e448acd292a9cc2638e7498db2c4ae5a6"
    host = S.Session(_K, _NH, _NC, "DSC00000042", False)
    card = S.Session(_K, _NH, _NC, "DSC00000042", True)
    plain = P.tlv_encode([(P.T_CHALLENGE, "123456"), (P.T_PIN, "1234")])
    sealed = host.seal(P.CMD_TEST, 5, host.next_seq(), plain)
    assert binascii.hexlify(sealed) == (b"000000013fa90e145c2e5159758cfd67a81b308f"
                                        b"8a406de32ca4e2b732ec6a28822f")
    assert card.open(P.CMD_TEST, 5, sealed) == (1, plain)
    raises(S.SessionError, card.open, P.CMD_TEST, 5, sealed)  # replayed


class _Hal:
    board = {"name": "vm"}

    def __init__(self):
        self.files = {}
        self.rx = b""
        self.tx = b""
        self.n = 0

    def ticks_ms(self):
        return 0

    def ticks_diff(self, a, b):
        return a - b

    def fs_read(self, name):
        return self.files.get(name)

    def fs_write(self, name, data):
        self.files[name] = bytes(data)

    def fs_rename(self, a, b):
        self.files[b] = self.files.pop(a)

    def fs_remove(self, name):
        if name in self.files:
            del self.files[name]

    def fs_free(self):
        return 4096

    def serial_read(self):
        data = self.rx
        self.rx = b""
        return data

    def serial_write(self, data):
        self.tx += bytes(data)

    def random_bytes(self, n):
        self.n += 1
        return bytes((self.n + i) & 0xFF for i in range(n))

    def battery_mv(self):
        return None

    def unix_time(self):
        return self.files.get("(rtc)")

    def set_unix_time(self, t):
        self.files["(rtc)"] = t


class _App:
    production = False
    record = None
    record_error = None

    def replace_record(self, rec):
        self.record = rec

    def request_reboot(self):
        pass


@test
def test_service_on_vm():
    # The handler itself on the VM: provision in the clear, AUTH, a sealed TEST.
    from dsc.service import Service
    hal = _Hal()
    svc = Service(hal, _App())

    def ask(ftype, payload):
        hal.rx = P.encode(ftype, 1, payload)
        svc.poll()
        frames = P.Deframer().feed(hal.tx)
        hal.tx = b""
        assert len(frames) == 1 and frames[0][1] == ftype | P.RSP_FLAG, frames
        return frames[0][3]

    seed = b"12345678901234567890123456789012"
    ask(P.CMD_PROVISION, P.tlv_encode([
        (P.T_SERIAL, "DSC00000042"), (P.T_SUITE, "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"),
        (P.T_SECRET, seed), (P.T_ADMIN_KEY, _K)]))
    f = P.tlv_decode(ask(P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, _NH)])))
    nc = f[P.T_NONCE]
    assert f[P.T_PROOF] == S.card_proof(_K, _NH, nc, "DSC00000042")
    ask(P.CMD_AUTH_FINISH, P.tlv_encode([(P.T_PROOF, S.host_proof(_K, _NH, nc, "DSC00000042"))]))
    host = S.Session(_K, _NH, nc, "DSC00000042", False)
    seq = host.next_seq()
    plain = P.tlv_encode([(P.T_CHALLENGE, "123456"), (P.T_PIN, "1234")])
    answer = ask(P.CMD_TEST, host.seal(P.CMD_TEST, 1, seq, plain))
    assert P.tlv_decode(host.open(P.CMD_TEST | P.RSP_FLAG, 1, answer)[1]) == \
        {P.T_RESPONSE: b"90187643"}
    info = P.tlv_decode(ask(P.CMD_INFO, b""))
    assert info[P.T_SERIAL] == b"DSC00000042" and P.T_BATTERY_MV not in info
    # The card's nonce ends in its persisted count of AUTH attempts ("failures attempts").
    assert nc[S.NONCE_RANDOM:] == bytes(4) and hal.files[S.FAIL_FILE] == b"0 1"
    f = P.tlv_decode(ask(P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, _NH)])))
    assert f[P.T_NONCE][S.NONCE_RANDOM:] == bytes((0, 0, 0, 1))


@test
def test_set_time_on_vm():
    # SET_TIME: refused without a session and with a bad payload, then sets the clock and
    # answers the old one. 1750000000 is no small int on a 32-bit VM (the wasm build).
    from dsc.service import Service
    hal = _Hal()
    svc = Service(hal, _App())

    def ask(ftype, payload, ok=True):
        hal.rx = P.encode(ftype, 1, payload)
        svc.poll()
        frames = P.Deframer().feed(hal.tx)
        hal.tx = b""
        assert len(frames) == 1, frames
        if not ok:
            assert frames[0][1] == P.RSP_ERROR, frames
            return P.tlv_decode(frames[0][3])[P.T_CODE][0]
        assert frames[0][1] == ftype | P.RSP_FLAG, frames
        return frames[0][3]

    when = P.tlv_encode([(P.T_TIME, P.uint(1750000000, 8))])
    ask(P.CMD_PROVISION, P.tlv_encode([
        (P.T_SERIAL, "DSC00000042"), (P.T_SUITE, "OCRA-1:HOTP-SHA1-6:QN08-T1M"),
        (P.T_SECRET, b"12345678901234567890"), (P.T_ADMIN_KEY, _K)]))
    got = ask(P.CMD_SET_TIME, when, ok=False)
    assert got == P.ERR_AUTH_REQUIRED, got
    f = P.tlv_decode(ask(P.CMD_AUTH_BEGIN, P.tlv_encode([(P.T_NONCE, _NH)])))
    nc = f[P.T_NONCE]
    ask(P.CMD_AUTH_FINISH, P.tlv_encode([(P.T_PROOF, S.host_proof(_K, _NH, nc, "DSC00000042"))]))
    host = S.Session(_K, _NH, nc, "DSC00000042", False)
    for bad in (P.tlv_encode([(P.T_TIME, P.uint(1000, 8))]), b"",
                P.tlv_encode([(P.T_TIME, P.uint(1750000000, 4))])):
        assert ask(P.CMD_SET_TIME, host.seal(P.CMD_SET_TIME, 1, host.next_seq(), bad),
                   ok=False) == P.ERR_BAD_PAYLOAD
    assert hal.unix_time() is None
    answer = ask(P.CMD_SET_TIME, host.seal(P.CMD_SET_TIME, 1, host.next_seq(), when))
    assert host.open(P.CMD_SET_TIME | P.RSP_FLAG, 1, answer)[1] == b""  # it was never set
    assert hal.unix_time() == 1750000000
    hal.set_unix_time(1750000042)
    answer = ask(P.CMD_SET_TIME, host.seal(P.CMD_SET_TIME, 1, host.next_seq(), when))
    assert P.tlv_decode(host.open(P.CMD_SET_TIME | P.RSP_FLAG, 1, answer)[1]) == \
        {P.T_TIME: P.uint(1750000042, 8)}
    assert hal.unix_time() == 1750000000


main()
