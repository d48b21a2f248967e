"""The virtual hardware on its own: GPIO nets, flash with cut points, clocks, serial line."""

from __future__ import annotations

import pytest

from emulator.clock import TICKS_MAX, TICKS_PERIOD, VirtualClock, WallClock, ticks_diff
from emulator.flashmem import Flash, FlashMemError, PowerCut
from emulator.gpio import GND, PULL_DOWN, PULL_NONE, PULL_UP, Gpio, GpioError, wire_keys
from emulator.serialport import SerialLine

MATRIX = {"keypad": {"kind": "matrix", "rows": [2, 3], "cols": [6, 7],
                     "keys": ["1", "2", "3", "4"]},
          "power": {"pin": 15, "active_low": True}}


def test_driven_row_pulls_a_pulled_up_column_through_a_closed_key() -> None:
    g = Gpio()
    wire_keys(g, MATRIX)
    rows = [g.pin_out(2, 1), g.pin_out(3, 1)]
    cols = [g.pin_in(6, PULL_UP), g.pin_in(7, PULL_UP)]
    assert [c.value() for c in cols] == [1, 1]
    g.set_switch("4", True)  # row 3 x column 7
    rows[1].value(0)
    assert [c.value() for c in cols] == [1, 0]
    rows[1].value(1)
    rows[0].value(0)
    assert [c.value() for c in cols] == [1, 1]  # another row: the key is not seen


def test_either_side_may_drive() -> None:
    g = Gpio()
    wire_keys(g, MATRIX)
    g.set_switch("2", True)  # row 2 x column 7
    col = g.pin_out(7, 0)  # the firmware drives the columns this time
    row = g.pin_in(2, PULL_UP)
    assert row.value() == 0
    col.value(1)
    assert row.value() == 1
    g.set_switch("2", False)
    col.value(0)
    assert row.value() == 1  # back to its pull-up


def test_pulls_floating_and_shorts() -> None:
    g = Gpio()
    assert g.pin_in(1, PULL_DOWN).value() == 0
    assert g.pin_in(2, PULL_NONE).value() == 0
    g.add_switch("k", 3, 4)
    a = g.pin_out(3, 1)
    g.set_switch("k", True)
    assert a.value() == 1  # an output reads its own level
    assert g.pin_in(4, PULL_DOWN).value() == 1  # the driver beats the pull
    g.pin_out(4, 0)
    assert g.shorts == 0
    assert a.value() == 0 and g.shorts == 1  # pins 3 (high) and 4 (low) fight


def test_direct_buttons_and_power_pin() -> None:
    g = Gpio()
    keys = wire_keys(g, {"keypad": {"kind": "direct", "direct": {"OK": 10, "1": 11}},
                         "power": {"pin": 12, "active_low": False}})
    assert keys == ["OK", "1", "POWER"]
    ok, power = g.pin_in(10, PULL_UP), g.pin_in(12, PULL_DOWN)
    assert (ok.value(), power.value()) == (1, 0)
    g.set_switch("OK", True)
    g.set_switch("POWER", True)
    assert (ok.value(), power.value()) == (0, 1)
    assert g.switches["OK"].b == GND


def test_bad_wiring_is_refused() -> None:
    with pytest.raises(GpioError, match="3 keys"):
        wire_keys(Gpio(), {"keypad": {"kind": "matrix", "rows": [1], "cols": [2, 3],
                                      "keys": ["1", "2", "3"]}, "power": {"pin": 4}})
    with pytest.raises(GpioError, match="kind"):
        wire_keys(Gpio(), {"keypad": {"kind": "touch"}, "power": {"pin": 4}})
    with pytest.raises(GpioError, match="twice"):
        wire_keys(Gpio(), {"keypad": {"kind": "direct", "direct": {"POWER": 1}},
                           "power": {"pin": 4}})


def test_flash_cut_inside_a_write_keeps_the_bytes_before_it() -> None:
    f = Flash()
    f.write("a", b"old")
    f.cut_before(1 + 2)  # create/truncate, byte 0, byte 1, then the cut
    with pytest.raises(PowerCut):
        f.write("a", b"new data")
    assert f.read("a") == b"ne"
    f.cut_before(0)
    with pytest.raises(PowerCut):
        f.write("a", b"xyz")
    assert f.read("a") == b"ne"  # cut before the write began: untouched
    assert not f.armed
    f.write("a", b"xyz")
    assert f.read("a") == b"xyz"


def test_flash_cut_points_are_counted_for_enumeration() -> None:
    def operation(f: Flash) -> None:
        f.write("n", b"12345")
        f.rename("n", "r")
        f.remove("gone")  # missing: no event
        f.remove("r")

    f = Flash()
    operation(f)
    assert f.events == 1 + 5 + 1 + 1
    assert (f.stats.writes, f.stats.renames, f.stats.removes, f.stats.bytes_written) == (1, 1, 1, 5)
    states = []
    for k in range(f.events):
        g = Flash()
        g.cut_before(k)
        with pytest.raises(PowerCut):
            operation(g)
        states.append(g.snapshot())
    assert states == [{}, {"n": b""}, {"n": b"1"}, {"n": b"12"}, {"n": b"123"}, {"n": b"1234"},
                      {"n": b"12345"}, {"r": b"12345"}]


def test_flash_refuses_bad_names_missing_files_and_overfill(tmp_path) -> None:
    f = Flash(size=8192, state_dir=tmp_path)
    for bad in ("", "../x", "a/b", ".."):
        with pytest.raises(FlashMemError):
            f.write(bad, b"x")
    with pytest.raises(FlashMemError):
        f.rename("missing", "x")
    f.write("a", b"x" * 4096)
    with pytest.raises(FlashMemError, match="no space"):
        f.write("b", b"x" * 4097)
    assert f.read("b") is None and f.free() == 4096
    assert not (tmp_path.parent / "x").exists()


def test_flash_mirrors_to_the_state_dir(tmp_path) -> None:
    f = Flash(state_dir=tmp_path)
    f.write("record.new", b"\x00\x01")
    f.rename("record.new", "record")
    assert sorted(p.name for p in (tmp_path / "flash").iterdir()) == ["record"]
    assert Flash(state_dir=tmp_path).read("record") == b"\x00\x01"
    f.cut_before(2)
    with pytest.raises(PowerCut):
        f.write("record", b"abc")
    assert Flash(state_dir=tmp_path).read("record") == b"a"  # the cut is kept too


def test_ticks_wrap_like_micropython() -> None:
    c = VirtualClock(offset=TICKS_MAX - 5)
    a = c.ticks()
    c.advance(10)
    b = c.ticks()
    assert b < a and ticks_diff(b, a) == 10 and ticks_diff(a, b) == -10
    assert b == 4 and a == TICKS_MAX - 5
    with pytest.raises(ValueError):
        c.advance_to(0)
    assert ticks_diff(0, TICKS_PERIOD // 2) == -(TICKS_PERIOD // 2)


def test_wall_clock_continues_from_its_start() -> None:
    w = WallClock(start=5000)
    assert 5000 <= w.now() < 6000
    assert w.realtime


def test_wall_clock_waits_to_the_instant_its_next_ms_begins(
        monkeypatch: pytest.MonkeyPatch) -> None:
    mono = [10.0]
    monkeypatch.setattr("emulator.clock.time.monotonic", lambda: mono[0])
    w = WallClock(start=100)
    mono[0] = 10.0029  # 2.9 ms on: now() says 102
    assert w.now() == 102
    assert w.seconds_until(103) == pytest.approx(0.0001)  # not a whole ms from now
    assert w.seconds_until(110) == pytest.approx(0.0071)
    assert w.seconds_until(102) == 0.0 and w.seconds_until(50) == 0.0


def test_serial_line_both_ways() -> None:
    line = SerialLine()
    woke = []
    line.on_input.append(lambda: woke.append(1))
    line.host_write(b"abc")
    assert woke and line.card_pending() == 3
    assert line.card_read() == b"abc" and line.card_read() == b""
    line.card_write(b"xyz")
    assert line.host_read(2) == b"xy" and line.host_read() == b"z"
