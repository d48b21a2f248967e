# The soft card's HAL (softcard/hal_browser.py) driving the unchanged dsc.app.App, as the page
# does: keys by level, App.step() on a timer, the SSD1306 writes handed out as hex, the flash
# as a dict the page stores, serial bytes in and out. Runs on CPython and both MicroPython VMs
# (on the WebAssembly build the `js` module is the page's globals: crypto, Date).
import binascii
import json

from dsc import protocol as P
from dsc import record
from dsc.app import App
from mptest import main, raises, test
from softcard.hal_browser import BOARD, BrowserHal, screen_text

NOW = [1000000]


def clock():
    return NOW[0]


def run(app, ms):
    end = NOW[0] + ms
    while NOW[0] < end:
        app.step()
        NOW[0] += 10


def boot(flash=None):
    hal = BrowserHal(clock=clock)
    if flash is not None:
        hal.load_flash(flash)
    return hal, App(hal, True)


@test
def test_power_held_turns_the_card_on_and_the_panel_gets_frames():
    hal, app = boot()
    hal.take_i2c()
    run(app, 100)
    assert app.card.view() == ("off",)
    hal.press("POWER", True)
    run(app, 1100)
    hal.press("POWER", False)
    run(app, 50)
    # no record yet: the card says so, and the message reached the panel as I2C writes
    assert app.card.view()[0] == "message", app.card.view()
    writes = hal.take_i2c().split(",")
    data = [w for w in writes if w.startswith("40")]
    assert data and len(binascii.unhexlify(data[-1])) == 1 + 128 * 4
    assert binascii.unhexlify(data[-1])[1:] == bytes(app.display.panel.fbuf)
    assert hal.take_i2c() == ""


@test
def test_flash_round_trips_through_the_page_json():
    hal, _app = boot()
    assert hal.take_flash() == ""
    rec = record.Record("SC0001", "OCRA-1:HOTP-SHA256-8:QN06-PSHA1", b"\x11" * 32,
                        b"\x22" * 32)
    record.save(hal, rec)
    stored = hal.take_flash()
    assert stored and hal.take_flash() == ""
    assert json.loads(stored)  # names -> hex
    _hal2, app2 = boot(stored)
    assert app2.record is not None and app2.record.serial == "SC0001"
    assert app2.record.secret == b"\x11" * 32


@test
def test_serial_bytes_reach_the_service_and_its_answer_comes_back():
    hal, app = boot()
    frame = P.encode(P.CMD_INFO, 1, b"")
    hal.feed(binascii.hexlify(frame).decode())
    run(app, 50)
    out = binascii.unhexlify(hal.take_serial())
    assert out.startswith(b"~") and out.endswith(b"\n"), out
    err, ftype, rid, payload = P.decode_line(out[1:-1])
    assert err == 0 and rid == 1 and b"soft" in payload, (err, ftype, rid)
    assert hal.take_serial() == ""


@test
def test_keys_and_pins():
    hal = BrowserHal(clock=clock)
    p = hal.pin_in(BOARD["keypad"]["direct"]["OK"], 1)
    assert p.value() == 1
    hal.press("OK", True)
    assert p.value() == 0
    raises(ValueError, hal.press, "X", True)
    raises(OSError, hal.i2c_write, 0x3D, b"\x00")


@test
def test_random_bytes_differ_and_have_the_length_asked():
    hal = BrowserHal(clock=clock)
    a = hal.random_bytes(16)
    b = hal.random_bytes(16)
    assert len(a) == 16 and a != b


@test
def test_screen_text_mirrors_the_views():
    assert screen_text(("off",)) == []
    assert screen_text(("pin", 3, 4)) == ["PIN>", "***"]
    assert screen_text(("challenge", "12", 6)) == ["CHALLNG>", "12"]
    assert screen_text(("response", "12345678")) == ["1234 5678"]
    assert screen_text(("message", "not", "provisioned")) == ["NOT", "PROVISIONED"]


main()
