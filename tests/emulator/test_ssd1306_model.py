"""The emulator's SSD1306 model, driven by the firmware's driver and by Adafruit's.

Both drivers draw the same picture; the model must show it pixel for pixel, whichever
addressing mode the driver uses. The rest pins the decoder down command by command.
"""

from __future__ import annotations

import errno
from typing import Any

import adafruit_ssd1306
import pytest
from dsc import fbcompat
from dsc.hal import Hal as BaseHal
from dsc.ssd1306 import SSD1306

from emulator.ssd1306 import HORIZONTAL, PAGE, Ssd1306Model

SIZES = [(128, 32), (128, 64), (64, 48), (96, 16)]
Image = list[list[int]]


class Hal(BaseHal):
    """The firmware HAL's I2C calls, wired to the model."""

    def __init__(self, model: Ssd1306Model) -> None:
        self.model = model

    def i2c_write(self, addr: int, buf: Any) -> None:
        self.model.i2c_write(addr, bytes(buf))


class BusioI2C:
    """What adafruit_bus_device needs of a busio.I2C: writes go to the model."""

    def __init__(self, model: Ssd1306Model) -> None:
        self.model = model

    def try_lock(self) -> bool:
        return True

    def unlock(self) -> None:
        pass

    def writeto(self, addr: int, buf: Any, *, start: int = 0, end: int | None = None) -> None:
        self.model.i2c_write(addr, bytes(buf[start:end]))

    def readfrom_into(self, addr: int, buf: Any, **_: Any) -> None:
        raise OSError(errno.EIO, "the model is write-only")


def draw(fb: Any, width: int, height: int) -> None:
    """An asymmetric picture (mirroring or flipping changes it) with the framebuf calls."""
    fb.fill(0)
    fb.fill_rect(3, 2, 20, 9, 1)
    fb.rect(30, 0, 15, height, 1)
    fb.hline(0, height - 1, width // 2, 1)
    fb.vline(width - 1, 0, height // 3, 1)
    for i in range(height):
        fb.pixel(50 + i % 40, i, 1)
    fb.pixel(5, 5, 0)


def expected(width: int, height: int) -> Image:
    buf = bytearray(width * height // 8)
    fb = fbcompat.FrameBuffer(buf, width, height, fbcompat.MONO_VLSB)
    draw(fb, width, height)
    return [[fb.pixel(x, y) for x in range(width)] for y in range(height)]


def firmware_panel(width: int = 128, height: int = 32) -> tuple[Ssd1306Model, SSD1306]:
    model = Ssd1306Model(width, height)
    oled = SSD1306(Hal(model), width, height)
    oled.init()
    fb = fbcompat.FrameBuffer(oled.fbuf, width, height, fbcompat.MONO_VLSB)
    draw(fb, width, height)
    oled.show()
    oled.poweron()
    return model, oled


def adafruit_panel(width: int, height: int, page_addressing: bool) -> Ssd1306Model:
    model = Ssd1306Model(width, height)
    oled = adafruit_ssd1306.SSD1306_I2C(width, height, BusioI2C(model),
                                        page_addressing=page_addressing)
    draw(oled, width, height)
    oled.show()
    return model


def blank(width: int = 128, height: int = 32) -> Ssd1306Model:
    """A model after the firmware's init, lit, with empty RAM."""
    model = Ssd1306Model(width, height)
    oled = SSD1306(Hal(model), width, height)
    oled.init()
    oled.poweron()
    return model


def cmd(model: Ssd1306Model, *data: int) -> None:
    model.i2c_write(0x3C, bytes((0x00, *data)))


def ram(model: Ssd1306Model, *data: int) -> None:
    model.i2c_write(0x3C, bytes((0x40, *data)))


def at(model: Ssd1306Model, page: int, col: int) -> int:
    return model.gdram[page * 128 + col]


# --- the two drivers ------------------------------------------------------------------------

@pytest.mark.parametrize(("width", "height"), SIZES)
def test_firmware_driver_shows_the_drawing(width: int, height: int) -> None:
    model, _ = firmware_panel(width, height)
    assert model.pixels() == expected(width, height)
    assert model.is_on and model.errors == []
    assert model.mode == HORIZONTAL and model.mux == height


# Adafruit's page_addressing computes the first column as 32 * (width // 32) - right (centred)
# only for the 64-column panels it was written for, so that variant runs on those.
@pytest.mark.parametrize(("width", "height", "page_addressing"), [
    *((w, h, False) for w, h in SIZES), (64, 48, True), (64, 32, True)])
def test_adafruit_driver_shows_the_same_pixels(width: int, height: int,
                                                page_addressing: bool) -> None:
    model = adafruit_panel(width, height, page_addressing)
    assert model.errors == []
    assert model.pixels() == expected(width, height)
    assert model.pixels() == firmware_panel(width, height)[0].pixels()


def test_adafruit_rotate_and_invert_match_the_model() -> None:
    model = Ssd1306Model(128, 32)
    oled = adafruit_ssd1306.SSD1306_I2C(128, 32, BusioI2C(model))
    draw(oled, 128, 32)
    oled.show()
    oled.rotate(False)  # A0 + C0: the picture turns by 180 degrees
    oled.show()
    want = expected(128, 32)
    assert model.pixels() == [row[::-1] for row in want[::-1]]
    oled.rotate(True)
    oled.invert(True)
    assert model.pixels() == [[1 - v for v in row] for row in want]
    oled.poweroff()
    assert not model.is_on and not any(map(any, model.pixels()))


# --- addressing -----------------------------------------------------------------------------

def test_horizontal_window_wraps_inside_the_window() -> None:
    model = blank()
    cmd(model, 0x21, 120, 123, 0x22, 6, 7)
    ram(model, *range(1, 10))
    assert [at(model, 6, c) for c in range(120, 124)] == [9, 2, 3, 4]
    assert [at(model, 7, c) for c in range(120, 124)] == [5, 6, 7, 8]
    assert at(model, 6, 124) == 0 and at(model, 5, 120) == 0


def test_vertical_addressing_walks_pages_first() -> None:
    model = blank()
    cmd(model, 0x20, 0x01, 0x21, 10, 11, 0x22, 1, 2)
    ram(model, 1, 2, 3, 4, 5)
    assert (at(model, 1, 10), at(model, 2, 10), at(model, 1, 11), at(model, 2, 11)) == (5, 2, 3, 4)
    assert model.errors == []


def test_page_addressing_stays_on_its_page() -> None:
    model = blank()
    cmd(model, 0x20, 0x02, 0xB3, 0x05, 0x17)  # page 3, column 0x75
    assert (model.page, model.col) == (3, 0x75)
    ram(model, *range(1, 13))  # 11 bytes reach column 127, the 12th wraps to 0x75
    assert [at(model, 3, c) for c in range(0x75, 128)] == [12, *range(2, 12)]
    assert model.page == 3 and at(model, 4, 0x75) == 0


def test_page_commands_move_the_pointer_in_horizontal_mode_too() -> None:
    model = blank()
    cmd(model, 0x21, 0, 127, 0x22, 0, 3, 0xB2, 0x03, 0x12)
    ram(model, 0xAA, 0xBB)
    assert at(model, 2, 0x23) == 0xAA and at(model, 2, 0x24) == 0xBB and at(model, 0, 0) == 0
    cmd(model, 0x21, 126, 127)  # a window also moves the pointer: 126, 127, then next page
    ram(model, 1, 2, 3)
    assert (at(model, 2, 126), at(model, 2, 127), at(model, 3, 126)) == (1, 2, 3)


# --- the image: remap, scan, invert, multiplex, offsets, COM pins --------------------------

def test_segment_remap_mirrors_and_com_scan_flips() -> None:
    model, _ = firmware_panel()
    want = expected(128, 32)
    cmd(model, 0xA0)
    assert model.pixels() == [row[::-1] for row in want]
    cmd(model, 0xA1, 0xC0)
    assert model.pixels() == want[::-1]


def test_invert_entire_on_and_off() -> None:
    model, oled = firmware_panel()
    want = expected(128, 32)
    oled.invert(True)
    assert model.pixels() == [[1 - v for v in row] for row in want]
    cmd(model, 0xA5)
    assert model.pixels() == [[1] * 128 for _ in range(32)]
    cmd(model, 0xA4, 0xA6)
    assert model.pixels() == want
    oled.poweroff()
    assert not model.is_on and model.pixels() == [[0] * 128 for _ in range(32)]
    oled.poweron()
    assert model.pixels() == want  # RAM kept while off


def test_no_charge_pump_no_light() -> None:
    model, _ = firmware_panel()
    cmd(model, 0x8D, 0x10)
    assert not model.is_on and not any(map(any, model.pixels()))
    external = Ssd1306Model(128, 32, external_vcc=True)
    cmd(external, 0xAF)
    assert external.is_on


def test_start_line_and_offset_shift_the_rows() -> None:
    model = blank()
    cmd(model, 0x22, 1, 1)
    ram(model, *([0x04] * 128))  # only RAM row 10 is lit
    assert [y for y, row in enumerate(model.pixels()) if any(row)] == [10]
    cmd(model, 0x48)  # start line 8
    assert [y for y, row in enumerate(model.pixels()) if any(row)] == [2]
    cmd(model, 0x40, 0xD3, 4)  # offset 4
    assert [y for y, row in enumerate(model.pixels()) if any(row)] == [6]


def test_smaller_multiplex_ratio_uses_fewer_rows() -> None:
    model = blank()
    ram(model, *([0xFF] * 512))
    cmd(model, 0xA8, 15)  # 16 rows: COM15..COM0 are the panel's lower half
    lit = [y for y, row in enumerate(model.pixels()) if all(row)]
    dark = [y for y, row in enumerate(model.pixels()) if not any(row)]
    assert lit == list(range(16, 32)) and dark == list(range(16))
    cmd(model, 0xA8, 3)  # below 16 rows is invalid: recorded, not applied
    assert model.mux == 16 and "multiplex" in model.errors[-1]


def test_wrong_com_pin_configuration_scrambles_the_rows() -> None:
    model = blank(128, 32)
    ram(model, *([0xFF] * 512))
    cmd(model, 0xDA, 0x12)  # alternative layout on a sequential panel: every other row
    image = model.pixels()
    assert [y for y in range(32) if any(image[y])] == list(range(1, 32, 2))
    tall, _ = firmware_panel(128, 64)
    before = tall.pixels()
    cmd(tall, 0xDA, 0x02)
    assert tall.pixels() != before
    cmd(tall, 0xDA, 0x12)
    assert tall.pixels() == before


# --- the byte stream ------------------------------------------------------------------------

def test_control_bytes_with_continuation() -> None:
    model = blank()
    model.i2c_write(0x3C, bytes((0x80, 0xA7, 0x80, 0x81, 0x80, 0x42)))
    assert model.inverted and model.contrast == 0x42
    cmd(model, 0x20, 0x02)
    model.i2c_write(0x3C, bytes((0x80, 0xB5, 0xC0, 0xAA, 0x00, 0x10, 0x03)))
    assert at(model, 5, 0) == 0xAA and model.col == 3 and model.errors == []


def test_commands_split_across_writes() -> None:
    model = blank()
    cmd(model, 0x21)
    cmd(model, 5)
    cmd(model, 9, 0x22, 2)
    model.i2c_write(0x3C, bytes((0x80, 3)))
    assert (model.col_start, model.col_end, model.page_start, model.page_end) == (5, 9, 2, 3)
    assert model.errors == []


def test_unknown_and_invalid_commands_are_recorded_not_raised() -> None:
    model, _ = firmware_panel()
    before = model.pixels()
    cmd(model, 0xFF, 0xB8, 0x20, 0x03, 0x8D, 0x55, 0xDA, 0x01)
    model.i2c_write(0x3C, bytes((0x01, 0xE3)))  # reserved control bits, then a NOP
    assert model.errors == [
        "unknown command 0xFF",
        "unknown command 0xB8",
        "addressing mode 3 is invalid",
        "charge pump argument 0x55 is not 0x10 or 0x14",
        "COM pins configuration 0x01 is not 0x02 | A4 | A5",
        "control byte 0x01 has reserved bits set",
    ]
    assert model.mode == HORIZONTAL and model.pixels() == before


def test_data_while_a_command_waits_for_arguments() -> None:
    model = blank()
    cmd(model, 0x81)
    ram(model, 0x77)
    assert model.errors == ["data while command 0x81 waits for arguments"]
    assert at(model, 0, 0) == 0x77 and model.contrast == 0xCF


def test_scrolling_is_accepted() -> None:
    model = blank()
    cmd(model, 0x26, 0, 0, 7, 3, 0, 0xFF, 0x29, 0, 0, 0, 3, 1, 0xA3, 0, 32, 0x2F)
    assert model.scrolling and model.errors == []
    cmd(model, 0x2E)
    assert not model.scrolling


def test_other_addresses_get_no_answer() -> None:
    model = blank()
    writes = model.writes
    with pytest.raises(OSError) as info:
        model.i2c_write(0x3D, b"\x40\xff")
    assert info.value.errno == errno.ENODEV
    assert not any(model.gdram) and model.writes == writes
    model.i2c_write(0x3C, b"")  # an address probe: acknowledged, nothing happens
    assert model.writes == writes + 1 and model.errors == []


def test_pixels_are_a_copy_and_follow_writes() -> None:
    model, _ = firmware_panel()
    image = model.pixels()
    image[0][0] = 7
    assert model.pixels()[0][0] == 0
    cmd(model, 0x21, 0, 0, 0x22, 0, 0)
    ram(model, 0x01)
    assert model.pixels()[0][0] == 1


def test_reset_and_bad_sizes() -> None:
    model, _ = firmware_panel()
    model.reset()
    assert not model.is_on and model.mode == PAGE and model.mux == 64
    with pytest.raises(ValueError, match="200x32"):
        Ssd1306Model(200, 32)
