# The card record: encoding, checks on load, atomic save and erase, power cuts at every byte.
# Runs on CPython and both MicroPython VMs.
from dsc import record
from dsc.record import Record, RecordError
from fakehal import FakeHal
from mptest import main, raises, test

SECRET = b"12345678901234567890123456789012"
ADMIN = bytes(range(32))


def rec(**changes):
    r = Record("DSC00000042", "OCRA-1:HOTP-SHA256-8:QN06-PSHA1", SECRET, ADMIN)
    for name in changes:
        setattr(r, name, changes[name])
    return r


def same(a, b):
    for name in ("serial", "suite", "secret", "admin_key", "pin_len", "idle_ms",
                 "response_ms", "counter", "locked"):
        if getattr(a, name) != getattr(b, name):
            return False
    return True


@test
def test_round_trip_keeps_every_field():
    r = rec(pin_len=6, idle_ms=45000, response_ms=90000, counter=2 ** 64 - 1, locked=True)
    back = record.decode(record.encode(r))
    assert same(back, r)
    assert back.serial == "DSC00000042" and back.counter == 2 ** 64 - 1 and back.locked


@test
def test_encoding_layout():
    data = record.encode(rec(counter=5))
    assert data[:4] == b"DSCR" and data[4] == 1
    assert data[6] == 4  # PIN length
    assert data[16:24] == b"\x00\x00\x00\x00\x00\x00\x00\x05"
    assert data[24] == len("DSC00000042")
    assert len(data) == 24 + 1 + 11 + 1 + 31 + 1 + 32 + 1 + 32 + 4


@test
def test_crc32_matches_the_ieee_check_value():
    assert record.crc32(b"123456789") == 0xCBF43926


@test
def test_any_flipped_byte_is_refused():
    data = record.encode(rec())
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x40
        raises(RecordError, record.decode, bytes(bad))


@test
def test_every_truncation_is_refused():
    data = record.encode(rec())
    for n in range(len(data)):
        raises(RecordError, record.decode, data[:n])
    raises(RecordError, record.decode, data + b"\x00")


def reseal(body):
    import struct
    return body + struct.pack(">I", record.crc32(body))


@test
def test_unknown_version_and_bad_lengths_are_refused_even_with_a_good_crc():
    body = bytearray(record.encode(rec())[:-4])
    body[4] = 2
    e = raises(RecordError, record.decode, reseal(bytes(body)))
    assert "format" in str(e)
    body = bytearray(record.encode(rec(admin_key=bytes(16)))[:-4])
    body[-17] = 15  # admin key length byte says 15: the record no longer adds up
    raises(RecordError, record.decode, reseal(bytes(body[:-1])))


@test
def test_field_checks_name_the_field_never_the_value():
    for changes, field in (({"serial": ""}, "serial"), ({"suite": "x" * 65}, "suite"),
                           ({"secret": b""}, "secret"), ({"admin_key": bytes(15)}, "admin_key"),
                           ({"pin_len": 3}, "pin_len"), ({"idle_ms": 10}, "idle_ms"),
                           ({"response_ms": 10 ** 8}, "response_ms"), ({"counter": -1}, "counter"),
                           ({"serial": "DSC\n1"}, "serial")):
        e = raises(RecordError, record.encode, rec(**changes))
        assert str(e).startswith(field), str(e)
        assert "1234567890" not in str(e)


@test
def test_repr_hides_secrets():
    text = repr(rec())
    assert "123456" not in text and "DSC00000042" in text


@test
def test_load_blank_save_load():
    hal = FakeHal()
    assert record.load(hal) is None
    record.save(hal, rec())
    assert sorted(hal.flash) == ["record"]
    assert same(record.load(hal), rec())


@test
def test_load_raises_on_a_corrupt_record():
    hal = FakeHal()
    record.save(hal, rec())
    hal.flash["record"] = hal.flash["record"][:-1] + b"\x00"
    raises(RecordError, record.load, hal)


@test
def test_leftover_new_file_is_ignored_and_removed():
    hal = FakeHal()
    record.save(hal, rec())
    hal.flash["record.new"] = record.encode(rec(counter=9))
    assert record.load(hal).counter == 0
    assert "record.new" not in hal.flash


@test
def test_whole_new_file_without_record_is_adopted():
    # FAT cannot rename over a file: a cut between remove and rename leaves only record.new.
    hal = FakeHal()
    hal.flash["record.new"] = record.encode(rec(counter=9))
    assert record.load(hal).counter == 9
    assert sorted(hal.flash) == ["record"]
    hal.flash["record.new"] = b"DSCR\x01half"
    del hal.flash["record"]
    assert record.load(hal) is None and not hal.flash


@test
def test_power_cut_at_every_byte_of_save_leaves_old_or_new():
    old = rec(counter=7)
    new = rec(counter=8, pin_len=6)
    total = len(record.encode(new)) + 1  # the write, then the rename
    seen = {"old": 0, "new": 0}
    for n in range(total + 1):
        hal = FakeHal()
        record.save(hal, old)
        hal.cut_during(n, record.save, hal, new)
        got = record.load(FakeHal(flash=hal.flash))
        if same(got, old):
            seen["old"] += 1
        else:
            assert same(got, new), n
            seen["new"] += 1
    assert seen["old"] == total and seen["new"] == 1, seen


@test
def test_erase_overwrites_the_secret_before_removing():
    hal = FakeHal()
    record.save(hal, rec())
    del hal.writes[:]
    record.erase(hal)
    assert not hal.flash
    name, data = hal.writes[0]
    assert name == "record.new" and SECRET not in data and ADMIN not in data
    assert bytes(32) in data


@test
def test_erase_of_a_corrupt_record_overwrites_it_all():
    hal = FakeHal()
    hal.flash["record"] = b"\x01" * 90
    record.erase(hal)
    assert not hal.flash and hal.writes[0] == ("record.new", bytes(90))


@test
def test_erase_overwrites_a_lone_new_file_too():
    # FAT cut between "remove record" and "rename record.new": the whole record, secret
    # included, is in record.new; a save cut part-way may have left the secret there too.
    whole = record.encode(rec())
    for data in (whole, whole[:-7]):
        hal = FakeHal()
        hal.flash["record.new"] = data
        record.erase(hal)
        assert not hal.flash
        assert hal.writes and hal.writes[0][0] == "record.new", hal.writes
        for _name, written in hal.writes:
            assert SECRET not in written and ADMIN not in written


@test
def test_power_cut_while_erasing_a_lone_new_file_leaves_a_blank_card():
    whole = record.encode(rec())
    for n in range(len(whole) + 2):
        hal = FakeHal()
        hal.flash["record.new"] = whole
        hal.cut_during(n, record.erase, hal)
        got = record.load(hal)
        assert got is None or same(got, rec()), n
        for name in hal.flash:
            assert SECRET not in hal.flash[name] or same(got, rec()), n


@test
def test_power_cut_during_erase_never_leaves_the_secret_or_a_broken_card():
    total = len(record.encode(rec())) + 1
    for n in range(total + 1):
        hal = FakeHal()
        record.save(hal, rec())
        hal.cut_during(n, record.erase, hal)
        got = record.load(hal)
        assert got is None or same(got, rec()), n
        if got is None:
            assert not hal.flash, n
        record.erase(hal)  # a second factory reset finishes the job
        assert not hal.flash


main()
