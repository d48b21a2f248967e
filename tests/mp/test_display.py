# The display stack on CPython and both MicroPython VMs: the framebuf shim against a naive
# reference (and against the real framebuf where the VM has it), the SSD1306 driver's I2C
# bytes, and every view's frame. Each VM draws with its own framebuf (the C module on
# MicroPython, dsc.fbcompat on CPython); the CRC-32 of every frame is pinned in FRAMES, so all
# three runtimes must produce the very same pixels. Run with "--print" to list the CRCs.
import binascii
import sys

from dsc import fbcompat, font
from dsc.display import Display
from dsc.ssd1306 import SSD1306
from fakehal import PICO, FakeHal
from mptest import main, raises, test

try:
    import framebuf
except ImportError:  # CPython
    framebuf = None

VIEWS = [
    ("pin", 0, 4),
    ("pin", 3, 4),
    ("challenge", "", 6),
    ("challenge", "123456", 6),
    ("challenge", "1234567890123456789012345", 64),
    ("response", "12345678"),
    ("response", "1234567890"),
    ("response", "123456"),
    ("message", "TOO SHORT", ""),
    ("message", "NOT", "PROVISIONED"),
]

# CRC-32 of the frame (the 512/1024 RAM bytes) per view, for 128x32 and 128x64.
FRAMES = {
    32: [0x74931470, 0xFC221E46, 0x43ED3503, 0x70D74EF5, 0xE5700AB9,
         0x4975D80E, 0x9A3283DB, 0xB22B57F6, 0x5887EEAD, 0x1FCCA35D],
    64: [0xA7CACC35, 0x129EF524, 0xF84887B2, 0x8E90CB77, 0x1CE1C007,
         0x7058C298, 0x1F50FFF9, 0x45951DEF, 0x0F8174F5, 0x792FF6C0],
}

SMALL = (font.SMALL_CHARS, font.SMALL, font.SMALL_W, font.SMALL_PAGES, font.SMALL_ADV)
BIG = (font.BIG_CHARS, font.BIG, font.BIG_W, font.BIG_PAGES, font.BIG_ADV)


def board(height):
    disp = dict(PICO["display"])
    disp["height"] = height
    b = dict(PICO)
    b["display"] = disp
    return b


def make(height=32):
    hal = FakeHal(board(height))
    return hal, Display(hal)


def last_frame(hal):
    for _, buf in reversed(hal.i2c):
        if buf and buf[0] == 0x40:
            return buf[1:]
    raise AssertionError("no RAM data was sent")


def pixel(frame, x, y):
    return (frame[(y >> 3) * 128 + x] >> (y & 7)) & 1


def has_glyph(frame, face, ch, x, y):
    """Every pixel of the glyph cell (lit and dark) is in the frame at x, y."""
    chars, data, w, pages, _ = face
    i = chars.find(ch)
    assert i >= 0, ch
    size = w * pages
    for col in range(w):
        bits = 0
        for p in range(pages):
            bits |= data[i * size + p * w + col] << (8 * p)
        for row in range(pages * 8):
            if y + row < 64 and pixel(frame, x + col, y + row) != (bits >> row) & 1:
                return False
    return True


def has_text(frame, face, text, x, y, space=None):
    adv = face[4]
    for ch in text:
        if ch == " ":
            x += adv if space is None else space
            continue
        if not has_glyph(frame, face, ch, x, y):
            raise AssertionError(f"{ch!r} not at {x},{y}")
        x += adv
    return True


def centred_x(face, n_glyphs, spaces=0, space=None):
    adv = face[4]
    ink = n_glyphs * adv - (adv - face[2])
    return (128 - ink - spaces * (adv if space is None else space)) // 2


# --- the framebuf shim --------------------------------------------------------------------

class Naive:
    """Reference semantics, pixel by pixel: clip to the buffer, nothing else."""

    def __init__(self, w, h):
        self.w = w
        self.h = h
        self.px = {}

    def set(self, x, y, c):
        if 0 <= x < self.w and 0 <= y < self.h:
            self.px[(x, y)] = 1 if c else 0

    def get(self, x, y):
        return self.px.get((x, y), 0)

    def fill_rect(self, x, y, w, h, c):
        for yy in range(y, y + h):
            for xx in range(x, x + w):
                self.set(xx, yy, c)

    def rect(self, x, y, w, h, c):
        # an outline is its four edges, each a w x 1 or 1 x h line (even when h or w < 1)
        self.fill_rect(x, y, w, 1, c)
        self.fill_rect(x, y + h - 1, w, 1, c)
        self.fill_rect(x, y, 1, h, c)
        self.fill_rect(x + w - 1, y, 1, h, c)

    def blit(self, src, sw, sh, x, y, key):
        for sy in range(sh):
            for sx in range(sw):
                c = src.pixel(sx, sy)
                if c != key:
                    self.set(x + sx, y + sy, c)

    def to_bytes(self):
        out = bytearray(((self.h + 7) // 8) * self.w)
        for (x, y), c in self.px.items():
            if c:
                out[(y >> 3) * self.w + x] |= 1 << (y & 7)
        return bytes(out)


class Lcg:
    """Deterministic numbers, identical on every VM."""

    def __init__(self, seed):
        self.s = seed

    def next(self, n):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.s >> 8) % n


def random_drawing(mod, seed, ops=150, w=40, h=20):
    """Draw `ops` random operations with module `mod` and, alongside, with Naive."""
    rnd = Lcg(seed)
    buf = bytearray(((h + 7) // 8) * w)
    fb = mod.FrameBuffer(buf, w, h, mod.MONO_VLSB)
    ref = Naive(w, h)
    sbuf = bytearray(2 * 7)
    src = mod.FrameBuffer(sbuf, 7, 11, mod.MONO_VLSB)
    for i in range(len(sbuf)):
        sbuf[i] = rnd.next(256)
    for _ in range(ops):
        op = rnd.next(7)
        x = rnd.next(w + 20) - 10
        y = rnd.next(h + 20) - 10
        a = rnd.next(w) - 3
        b = rnd.next(h) - 3
        c = rnd.next(3)  # 2: a "colour" that is neither 0 nor 1
        if op == 0:
            fb.pixel(x, y, c)
            ref.set(x, y, c)
        elif op == 1:
            fb.fill_rect(x, y, a, b, c)
            ref.fill_rect(x, y, a, b, c)
        elif op == 2:
            fb.hline(x, y, a, c)
            ref.fill_rect(x, y, a, 1, c)
        elif op == 3:
            fb.vline(x, y, b, c)
            ref.fill_rect(x, y, 1, b, c)
        elif op == 4:
            fb.rect(x, y, a, b, c)
            ref.rect(x, y, a, b, c)
        elif op == 5:
            key = rnd.next(3) - 1
            fb.blit(src, x, y, key)
            ref.blit(src, 7, 11, x, y, key)
        else:
            fb.rect(x, y, a, b, c, True)
            ref.fill_rect(x, y, a, b, c)
    return bytes(buf), ref.to_bytes(), fb


@test
def test_fbcompat_matches_reference():
    for seed in (1, 2, 3):
        got, want, fb = random_drawing(fbcompat, seed)
        assert got == want, f"seed {seed}"
        assert fb.pixel(-1, 0) is None and fb.pixel(40, 0) is None


@test
def test_real_framebuf_matches_reference_and_shim():
    if framebuf is None:
        return  # CPython has no framebuf; the shim stands in for it
    for seed in (1, 2, 3):
        got, want, _ = random_drawing(framebuf, seed)
        assert got == want, f"seed {seed}"
        assert got == random_drawing(fbcompat, seed)[0]


@test
def test_fbcompat_fill_and_tuple_blit():
    buf = bytearray(16)
    fb = fbcompat.FrameBuffer(buf, 8, 16, fbcompat.MONO_VLSB)
    fb.fill(1)
    assert buf == bytearray(b"\xff" * 16)
    fb.fill(0)
    fb.blit((b"\x81\x00\x01", 3, 8, fbcompat.MONO_VLSB), 2, 4, 0)
    assert buf[2] == 0x10 and buf[10] == 0x08 and buf[4] == 0x10 and buf[3] == 0
    raises(ValueError, fbcompat.FrameBuffer, bytearray(1), 8, 8, 1)
    raises(ValueError, fbcompat.FrameBuffer, bytearray(7), 8, 8, fbcompat.MONO_VLSB)


# --- the SSD1306 driver -------------------------------------------------------------------

INIT_32 = bytes((0x00, 0xAE, 0xD5, 0x80, 0xA8, 31, 0xD3, 0, 0x40, 0x8D, 0x14, 0x20, 0x00,
                 0xA1, 0xC8, 0xDA, 0x02, 0x81, 0xCF, 0xD9, 0xF1, 0xDB, 0x30, 0xA4, 0xA6, 0x2E))


@test
def test_driver_bytes():
    hal = FakeHal(PICO)
    oled = SSD1306(hal, 128, 32, 0x3C)
    assert hal.i2c == []  # nothing on the bus before init()
    oled.init()
    oled.poweron()
    oled.contrast(0x1234)
    oled.invert(True)
    oled.poweroff()
    assert hal.i2c == [(0x3C, INIT_32), (0x3C, b"\x00\xaf"), (0x3C, b"\x00\x81\x34"),
                       (0x3C, b"\x00\xa7"), (0x3C, b"\x00\xae")]
    hal.i2c = []
    other = bytearray(512)
    other[0] = 0x5A
    other[511] = 0xA5
    oled.show(other)
    assert hal.i2c[0] == (0x3C, b"\x00\x21\x00\x7f\x22\x00\x03")
    assert len(hal.i2c[1][1]) == 513 and hal.i2c[1][1][:2] == b"\x40\x5a"
    assert hal.i2c[1][1][512] == 0xA5


@test
def test_driver_64_rows_and_external_vcc():
    hal = FakeHal(PICO)
    oled = SSD1306(hal, 128, 64, 0x3D, external_vcc=True)
    oled.init()
    init = hal.i2c[0][1]
    assert hal.i2c[0][0] == 0x3D
    assert init[4:6] == b"\xa8\x3f" and init[15:17] == b"\xda\x12"
    assert init[9:11] == b"\x8d\x10" and init[19:21] == b"\xd9\x22"
    oled.show()
    assert hal.i2c[1][1] == b"\x00\x21\x00\x7f\x22\x00\x07" and len(hal.i2c[2][1]) == 1025
    raises(ValueError, SSD1306, hal, 128, 40)
    raises(ValueError, SSD1306, hal, 129, 32)


# --- the display --------------------------------------------------------------------------

@test
def test_first_render_inits_draws_then_lights():
    hal, disp = make()
    assert hal.i2c == []  # constructing touches no hardware
    disp.render(("pin", 0, 4))
    kinds = [buf[:2] for _, buf in hal.i2c]
    assert hal.i2c[0][1] == INIT_32
    assert kinds[1:] == [b"\x00\x21", b"\x40\x00", b"\x00\xaf"]
    assert has_text(last_frame(hal), SMALL, "PIN>", 2, 12)  # one line: centred vertically


@test
def test_pin_and_challenge_layout():
    for height in (32, 64):
        hal, disp = make(height)
        top = (height - (font.SMALL_H + 3 + font.BIG_H)) // 2
        below = top + font.SMALL_H + 3
        disp.render(("pin", 3, 4))
        frame = last_frame(hal)
        assert has_text(frame, SMALL, "PIN>", 2, top) and has_text(frame, BIG, "***", 2, below)
        assert not has_glyph(frame, BIG, "*", 38, below)  # exactly three
        disp.render(("challenge", "123456", 6))
        frame = last_frame(hal)
        assert has_text(frame, SMALL, "CHALLNG>", 2, top)
        assert has_text(frame, BIG, "123456", 2, below)


@test
def test_long_challenge_wraps_in_small_font():
    hal, disp = make(32)
    digits = "1234567890123456789012345"
    disp.render(("challenge", digits, 64))
    frame = last_frame(hal)
    top = (32 - 3 * font.SMALL_H - 2 * 3) // 2
    assert has_text(frame, SMALL, "CHALLNG>", 2, top)
    assert has_text(frame, SMALL, digits[:20], 2, top + 10)
    assert has_text(frame, SMALL, digits[20:], 2, top + 20)
    disp.render(("challenge", "123", 12))  # 12 expected digits: small from the first one
    top = (32 - 2 * font.SMALL_H - 3) // 2
    assert has_text(last_frame(hal), SMALL, "123", 2, top + 10)


@test
def test_response_in_large_digits_two_groups():
    for height in (32, 64):
        hal, disp = make(height)
        y = (height - font.BIG_H) // 2
        disp.render(("response", "12345678"))
        frame = last_frame(hal)
        assert has_text(frame, BIG, "1234 5678", centred_x(BIG, 8, 1), y)
        disp.render(("response", "1234567890"))
        # ten digits: the group gap shrinks to what is left of the 124 usable columns
        space = 124 - (10 * 12 - 2)
        assert has_text(last_frame(hal), BIG, "12345 67890", centred_x(BIG, 10, 1, space), y,
                        space)


@test
def test_message_centred():
    hal, disp = make(32)
    disp.render(("message", "NOT", "PROVISIONED"))
    frame = last_frame(hal)
    top = (32 - 2 * font.SMALL_H - 3) // 2
    assert has_text(frame, SMALL, "NOT", centred_x(SMALL, 3), top)
    assert has_text(frame, SMALL, "PROVISIONED", centred_x(SMALL, 11), top + 10)
    disp.render(("message", "a b?", "~"))  # lower case is upper-cased, unknown -> "?"
    frame = last_frame(hal)
    assert has_text(frame, SMALL, "A B?", centred_x(SMALL, 3, 1), top)
    assert has_text(frame, SMALL, "?", centred_x(SMALL, 1), top + 10)


@test
def test_flush_only_on_change_and_off():
    hal, disp = make()
    disp.render(("pin", 1, 4))
    n = len(hal.i2c)
    disp.render(("pin", 1, 4))
    assert len(hal.i2c) == n
    disp.render(("off",))
    assert hal.i2c[n:] == [(0x3C, b"\x00\xae")]
    disp.render(("off",))
    assert len(hal.i2c) == n + 1
    disp.render(("pin", 1, 4))  # back on: the frame again, then light (no second init)
    assert [buf[:2] for _, buf in hal.i2c[n + 1:]] == [b"\x00\x21", b"\x40\x00", b"\x00\xaf"]
    disp.render(("pin", 2, 4))  # already lit: just the frame
    assert [buf[:2] for _, buf in hal.i2c[n + 4:]] == [b"\x00\x21", b"\x40\x00"]


@test
def test_bad_view_changes_nothing():
    hal, disp = make()
    disp.render(("pin", 2, 4))
    n = len(hal.i2c)
    for bad in [(), "pin", ("dance",), ("pin", -1, 4), ("pin", "2", 4), ("pin", 2, None),
                ("challenge", "12", "6"), ("challenge", "12"), ("response", 12345678),
                ("message",), ("message", None, ""), ["pin", 1, 4]]:
        e = raises(ValueError, disp.render, bad)
        assert "display" in str(e)
    assert len(hal.i2c) == n
    disp.render(("pin", 2, 4))  # still the view on the panel
    assert len(hal.i2c) == n


class FlakyHal(FakeHal):
    def __init__(self, board):
        FakeHal.__init__(self, board)
        self.fail = False

    def i2c_write(self, addr, buf):
        if self.fail:
            raise OSError(5)
        FakeHal.i2c_write(self, addr, buf)


@test
def test_bus_error_reinitialises_next_time():
    hal = FlakyHal(PICO)
    disp = Display(hal)
    disp.render(("pin", 0, 4))
    hal.fail = True
    raises(OSError, disp.render, ("pin", 1, 4))
    hal.fail = False
    hal.i2c = []
    disp.render(("pin", 1, 4))
    assert hal.i2c[0][1] == INIT_32 and hal.i2c[-1][1] == b"\x00\xaf"


@test
def test_frames_are_identical_on_every_vm():
    show = "--print" in sys.argv
    bad = []
    for height in (32, 64):
        hal, disp = make(height)
        for i, view in enumerate(VIEWS):
            disp.render(view)
            crc = binascii.crc32(last_frame(hal)) & 0xFFFFFFFF
            if show:
                print(f"{height} {view!r} 0x{crc:08x}")
            if crc != FRAMES[height][i]:
                bad.append(f"128x{height} {view!r}: 0x{crc:08x}")
    assert not bad, bad


main()
