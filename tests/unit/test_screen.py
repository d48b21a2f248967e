"""Every card view, drawn by the firmware's Display through the emulator's SSD1306 model, reads
back as the text the card shows (emulator.screen); plus the fonts the reader relies on."""

from __future__ import annotations

import importlib.util
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from dsc import app, card, fbcompat, font
from dsc.display import Display
from dsc.hal import Hal
from PIL import Image

from emulator.screen import BIG, DARK, LIT, SMALL, Face, screen_text, to_image, to_png
from emulator.ssd1306 import Ssd1306Model

ROOT = Path(__file__).resolve().parents[2]
DIGITS64 = "".join(str(i % 10) for i in range(64))


class BusHal(Hal):
    """Just enough HAL for Display: the board's display entry and the I2C bus to the model."""

    def __init__(self, model: Ssd1306Model) -> None:
        self.model = model
        self.board = {"display": {"addr": 0x3C, "width": model.width, "height": model.height}}

    def i2c_write(self, addr: int, buf: Any) -> None:
        self.model.i2c_write(addr, bytes(buf))


def screen(height: int) -> tuple[Display, Ssd1306Model]:
    model = Ssd1306Model(128, height)
    return Display(BusHal(model)), model


def shown(view: tuple[Any, ...], height: int) -> str:
    display, model = screen(height)
    display.render(view)
    assert model.errors == []
    return screen_text(model.pixels(), 128, height)


VIEWS: list[tuple[tuple[Any, ...], str]] = [
    (("off",), ""),
    (("pin", 0, 4), "PIN>"),
    (("pin", 3, 4), "PIN>\n***"),
    (("pin", 4, 4), "PIN>\n****"),
    (("pin", 12, 12), "PIN>\n************"),  # too long for the large font
    (("challenge", "", 6), "CHALLNG>"),
    (("challenge", "123", 6), "CHALLNG>\n123"),
    (("challenge", "123456", 6), "CHALLNG>\n123456"),
    (("challenge", "9876543210", 10), "CHALLNG>\n9876543210"),
    (("challenge", "98765", 12), "CHALLNG>\n98765"),  # small: 12 will not fit large
    (("challenge", DIGITS64[:40], 64), f"CHALLNG>\n{DIGITS64[:20]}\n{DIGITS64[20:40]}"),
    (("response", "12345678"), "1234 5678"),
    (("response", "1234"), "1234"),
    (("response", "12345"), "12345"),
    (("response", "123456"), "123 456"),
    (("response", "1234567"), "123 4567"),
    (("response", "123456789"), "1234 56789"),
    (("response", "1234567890"), "12345 67890"),
    (("response", "0a1b2c3d4e5f6a7b8c9d"), "0A1B2C3D4E5F6A7B8C9D"),  # not digits: small font
    (("message", "TOO SHORT", ""), "TOO SHORT"),
    (("message", "NOT", "PROVISIONED"), "NOT\nPROVISIONED"),
    (("message", "this message is too long for one line", ""),
     "THIS MESSAGE IS TOO\nLONG FOR ONE LINE"),
    (("message", "PIN: 1/2 (OK?) -+= *.,!<>", ""), "PIN: 1/2 (OK?) -+=\n*.,!<>"),
    (("message", "50% ~", "x"), "50? ?\nX"),  # characters the font lacks read as "?"
]


@pytest.mark.parametrize("height", [32, 64])
@pytest.mark.parametrize(("view", "text"), VIEWS, ids=[repr(v) for v, _ in VIEWS])
def test_every_view_reads_back(view: tuple[Any, ...], text: str, height: int) -> None:
    assert shown(view, height) == text


def test_a_full_64_digit_challenge_keeps_the_newest_digits_on_128x32() -> None:
    # 128x32 holds four small lines: the prompt and the last three of four chunks.
    chunks = [DIGITS64[i:i + 20] for i in range(0, 64, 20)]
    assert shown(("challenge", DIGITS64, 64), 32) == "\n".join(["CHALLNG>", *chunks[1:]])
    assert shown(("challenge", DIGITS64, 64), 64) == "\n".join(["CHALLNG>", *chunks])


def message_views() -> list[tuple[Any, ...]]:
    views = [v for m in (card, app) for v in vars(m).values()
             if isinstance(v, tuple) and v and v[0] == "message"]
    assert len(views) >= 5
    return views


@pytest.mark.parametrize("height", [32, 64])
def test_the_card_messages_read_back(height: int) -> None:
    for view in message_views():
        assert shown(view, height) == "\n".join(line for line in view[1:] if line), view


def test_a_sequence_of_views_on_one_screen() -> None:
    display, model = screen(32)
    for view, text in VIEWS:
        display.render(view)
        assert screen_text(model.pixels(), 128, 32) == text, view
        assert model.is_on == (view != ("off",))


def test_inverted_display_reads_the_same() -> None:
    display, model = screen(32)
    display.render(("response", "12345678"))
    display.panel.invert(True)
    assert sum(map(sum, model.pixels())) > 128 * 16
    assert screen_text(model.pixels(), 128, 32) == "1234 5678"


def test_blank_and_dark_screens_are_empty() -> None:
    assert screen_text([[0] * 128 for _ in range(32)], 128, 32) == ""
    assert screen_text([[1] * 128 for _ in range(64)], 128, 64) == ""
    display, model = screen(32)
    display.render(("pin", 1, 4))
    display.off()
    assert not model.is_on and screen_text(model.pixels(), 128, 32) == ""


def test_noise_reads_as_unknown() -> None:
    pixels = [[0] * 40 for _ in range(12)]
    for x, y in [(3, 2), (5, 3), (4, 4), (6, 5), (3, 6)]:
        pixels[y][x] = 1
    assert screen_text(pixels, 40, 12) == "?"
    tall = [[1 if x == 3 else 0 for x in range(40)] for _ in range(30)]
    assert screen_text(tall, 40, 30) == "?"  # taller than any glyph: one unreadable line


# --- the fonts --------------------------------------------------------------------------------

def test_font_module_is_what_the_generator_makes() -> None:
    spec = importlib.util.spec_from_file_location("gen_font", ROOT / "scripts" / "gen_font.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.main(["--check"]) == 0
    assert font.SMALL_CHARS.startswith(" 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ>")
    assert all(c in font.SMALL_CHARS for c in "*-:./")
    assert font.BIG_CHARS == " 0123456789*"
    assert len(font.SMALL) == len(font.SMALL_CHARS) * font.SMALL_W * font.SMALL_PAGES
    assert len(font.BIG) == len(font.BIG_CHARS) * font.BIG_W * font.BIG_PAGES


def ink(face: Face, ch: str) -> set[tuple[int, int]]:
    return {(x, y) for x, col in enumerate(face.columns[ch]) for y in range(face.height)
            if col >> y & 1}


@pytest.mark.parametrize("face", [SMALL, BIG], ids=["small", "big"])
def test_no_glyph_is_a_moved_copy_of_another(face: Face) -> None:
    # Else the reader could not tell where a cell is. (Moves that push ink out of the cell
    # cannot fool it: it wants dark rows/columns around every cell.) A move maps a shape's
    # top-left corner onto the other's, so compare the shapes seen from that corner.
    seen: dict[frozenset[tuple[int, int]], str] = {}
    for ch in face.chars.strip():
        shape = ink(face, ch)
        assert shape, ch
        x0 = min(x for x, _ in shape)
        y0 = min(y for _, y in shape)
        key = frozenset((x - x0, y - y0) for x, y in shape)
        assert key not in seen, (ch, seen.get(key))
        seen[key] = ch


def draw_text(text: str, face_name: str, width: int, height: int, x: int, y: int) -> list[list[int]]:
    """Draw with the font bytes directly (not through Display), at the face's advance."""
    chars = getattr(font, face_name + "_CHARS")
    data = getattr(font, face_name)
    w, pages, adv = (getattr(font, face_name + s) for s in ("_W", "_PAGES", "_ADV"))
    buf = bytearray(width * ((height + 7) // 8))
    fb = fbcompat.FrameBuffer(buf, width, height, fbcompat.MONO_VLSB)
    size = w * pages
    for ch in text:
        i = chars.index(ch)
        fb.blit((data[i * size:(i + 1) * size], w, pages * 8, fbcompat.MONO_VLSB), x, y, 0)
        x += adv
    return [[fb.pixel(px, py) for px in range(width)] for py in range(height)]


def test_every_pair_of_small_glyphs_reads_back() -> None:
    chars = font.SMALL_CHARS.strip()
    for a, b in product(chars, repeat=2):
        assert screen_text(draw_text(a + b, "SMALL", 16, 12, 2, 3), 16, 12) == a + b


def test_every_pair_of_large_glyphs_reads_back() -> None:
    chars = font.BIG_CHARS.strip()
    for a, b in product(chars, repeat=2):
        assert screen_text(draw_text(a + b, "BIG", 28, 20, 1, 2), 28, 20) == a + b


def test_spaces_come_from_the_gaps() -> None:
    pixels = draw_text("AB", "SMALL", 60, 8, 0, 0)
    wide = draw_text("A", "SMALL", 60, 8, 0, 0)
    far = draw_text("B", "SMALL", 60, 8, 3 * font.SMALL_ADV, 0)
    both = [[p | q for p, q in zip(r1, r2, strict=True)] for r1, r2 in zip(wide, far, strict=True)]
    assert screen_text(pixels, 60, 8) == "AB"
    assert screen_text(both, 60, 8) == "A  B"


# --- pictures ---------------------------------------------------------------------------------

def test_png_looks_like_the_panel(tmp_path: Path) -> None:
    display, model = screen(32)
    display.render(("response", "12345678"))
    path = tmp_path / "card.png"
    to_png(model.pixels(), path, scale=4)
    img = Image.open(path).convert("RGB")
    assert img.size == (128 * 4 + 16, 32 * 4 + 16)
    pixels = model.pixels()
    lit = next((x, y) for y in range(32) for x in range(128) if pixels[y][x])
    dark = next((x, y) for y in range(32) for x in range(128) if not pixels[y][x])
    assert img.getpixel((8 + lit[0] * 4 + 1, 8 + lit[1] * 4 + 1)) == LIT
    assert img.getpixel((8 + lit[0] * 4 + 3, 8 + lit[1] * 4 + 3)) == DARK  # the seam
    assert img.getpixel((8 + dark[0] * 4 + 1, 8 + dark[1] * 4 + 1)) == DARK
    assert to_image(pixels, scale=1).size == (132, 36)
    with pytest.raises(ValueError, match="scale"):
        to_image(pixels, scale=0)
