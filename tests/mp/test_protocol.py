# The service-protocol codec (dsc.protocol) on CPython and both MicroPython VMs: round trips,
# byte-exact frames, the streaming deframer's resynchronisation, and the TLV codec.
from dsc import protocol as P
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


main()
