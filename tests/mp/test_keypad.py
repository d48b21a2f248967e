# Keypad scanning through fake pins: matrix and direct wiring, debounce, events, long press.
# Runs on CPython and both MicroPython VMs.
from dsc.keypad import DOWN, LONG, UP, Keypad
from fakehal import DIRECT, PICO, FakeHal
from mptest import main, test

PAD4X4 = {
    "kind": "matrix",
    "rows": ["Y1", "Y2", "Y3", "Y4"],
    "cols": ["Y5", "Y6", "Y7", "Y8"],
    "keys": ["1", "2", "3", "A", "4", "5", "6", "B", "7", "8", "9", "C", "CLR", "0", "OK", "D"],
}


def scan_for(pad, hal, ms, period=10):
    """Scan every period ms for ms; return every event."""
    out = []
    end = hal.t + ms
    while hal.t < end:
        out.extend(pad.scan(hal.t))
        hal.t += period
    return out


@test
def test_press_and_release_give_down_and_up_with_times():
    hal = FakeHal()
    pad = Keypad(hal)
    scan_for(pad, hal, 50)
    hal.keys.add("5")
    events = scan_for(pad, hal, 100)
    assert events == [(DOWN, "5", 50, 0)], events
    hal.keys.discard("5")
    events = scan_for(pad, hal, 50)
    assert events == [(UP, "5", 150, 100)], events


@test
def test_every_key_of_the_matrix_is_found_by_name():
    hal = FakeHal()
    pad = Keypad(hal)
    for name in PICO["keypad"]["keys"] + ["POWER"]:
        hal.keys.add(name)
        down = [e for e in scan_for(pad, hal, 30) if e[0] == DOWN]
        hal.keys.discard(name)
        scan_for(pad, hal, 30)
        assert [e[1] for e in down] == [name], (name, down)


@test
def test_a_one_scan_glitch_is_not_a_key():
    hal = FakeHal()
    pad = Keypad(hal)
    hal.keys.add("7")
    events = pad.scan(0)
    assert events == []
    hal.keys.discard("7")
    assert scan_for(pad, hal, 100) == []
    assert not pad.active()


@test
def test_contact_bounce_gives_one_press():
    hal = FakeHal()
    pad = Keypad(hal)
    hal.keys.add("OK")
    hal.bounce["OK"] = 3  # reads flip for the first few scans
    events = scan_for(pad, hal, 200)
    assert [e[:2] for e in events] == [(DOWN, "OK")], events


@test
def test_long_press_fires_once_at_the_threshold():
    hal = FakeHal()
    pad = Keypad(hal)
    hal.keys.add("POWER")
    events = scan_for(pad, hal, 2500)
    longs = [e for e in events if e[0] == LONG]
    assert len(longs) == 1 and longs[0][1] == "POWER", events
    assert longs[0][2] == 1000 and longs[0][3] == 1000, longs
    hal.keys.discard("POWER")
    events = scan_for(pad, hal, 50)
    assert events[0][0] == UP and events[0][3] == 2500, events


@test
def test_two_keys_held_together():
    hal = FakeHal()
    pad = Keypad(hal)
    hal.keys.add("CLR")
    hal.keys.add("OK")
    scan_for(pad, hal, 50)
    assert pad.is_down("CLR") and pad.is_down("OK") and not pad.is_down("0")


@test
def test_idle_scan_reads_only_power_and_columns():
    hal = FakeHal()
    pad = Keypad(hal)
    scan_for(pad, hal, 30)
    reads = hal.pin_reads
    writes = hal.pin_writes
    pad.scan(hal.t)
    assert hal.pin_reads - reads == 1 + len(PICO["keypad"]["cols"])
    assert hal.pin_writes == writes
    assert not pad.active()


@test
def test_rows_are_left_low_between_scans():
    hal = FakeHal()
    pad = Keypad(hal)
    hal.keys.add("1")
    scan_for(pad, hal, 30)
    for num in PICO["keypad"]["rows"]:
        assert hal.pins[num].level == 0


@test
def test_4x4_keypad_with_named_pins():
    board = dict(PICO)
    board["keypad"] = PAD4X4
    hal = FakeHal(board)
    pad = Keypad(hal)
    for name in ("D", "CLR", "A", "0"):
        hal.keys.add(name)
        events = scan_for(pad, hal, 30)
        hal.keys.discard(name)
        scan_for(pad, hal, 30)
        assert events == [(DOWN, name, events[0][2], 0)], (name, events)


@test
def test_direct_buttons():
    hal = FakeHal(DIRECT)
    pad = Keypad(hal)
    hal.keys.add("9")
    events = scan_for(pad, hal, 30)
    assert [e[:2] for e in events] == [(DOWN, "9")]
    hal.keys.discard("9")
    hal.keys.add("OK")
    events = scan_for(pad, hal, 30)
    assert [e[:2] for e in events] == [(UP, "9"), (DOWN, "OK")], events


@test
def test_power_key_active_high():
    board = dict(PICO)
    board["power"] = {"pin": 15, "active_low": False}
    hal = FakeHal(board)
    pad = Keypad(hal)
    assert scan_for(pad, hal, 50) == []
    hal.keys.add("POWER")
    assert [e[:2] for e in scan_for(pad, hal, 30)] == [(DOWN, "POWER")]


main()
