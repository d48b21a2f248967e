# A pure-Python subset of MicroPython's `framebuf`, for CPython (where `import framebuf` fails):
#     try:
#         import framebuf
#     except ImportError:
#         from dsc import fbcompat as framebuf
# Only the 1-bit MONO_VLSB format the SSD1306 uses: byte (y // 8) * stride + x holds column x
# of the 8-row band (page) y // 8, bit y % 8. Clipping and argument handling follow
# extmod/modframebuf.c so that both produce the same bytes (tests/mp/test_display.py checks
# that against the real module on the MicroPython VMs).

MONO_VLSB = 0
MVLSB = MONO_VLSB


class FrameBuffer:
    def __init__(self, buffer, width, height, format, stride=None):
        if format != MONO_VLSB:
            raise ValueError("fbcompat supports MONO_VLSB only")
        if width < 1 or height < 1:
            raise ValueError("invalid size")
        self.buf = buffer
        self.width = width
        self.height = height
        self.stride = width if stride is None else stride
        if len(buffer) < ((height + 7) >> 3) * self.stride:
            raise ValueError("buffer too small")

    def _set(self, x, y, c):
        i = (y >> 3) * self.stride + x
        bit = 1 << (y & 7)
        if c:
            self.buf[i] |= bit
        else:
            self.buf[i] &= ~bit & 0xFF

    def _get(self, x, y):
        return (self.buf[(y >> 3) * self.stride + x] >> (y & 7)) & 1

    def fill(self, c):
        self.fill_rect(0, 0, self.width, self.height, c)

    def pixel(self, x, y, c=None):
        if not (0 <= x < self.width and 0 <= y < self.height):
            return None
        if c is None:
            return self._get(x, y)
        self._set(x, y, c)
        return None

    def fill_rect(self, x, y, w, h, c):
        if h < 1 or w < 1 or x + w <= 0 or y + h <= 0 or y >= self.height or x >= self.width:
            return
        x1 = min(self.width, x + w)
        y1 = min(self.height, y + h)
        x = max(x, 0)
        for yy in range(max(y, 0), y1):
            for xx in range(x, x1):
                self._set(xx, yy, c)

    def hline(self, x, y, w, c):
        self.fill_rect(x, y, w, 1, c)

    def vline(self, x, y, h, c):
        self.fill_rect(x, y, 1, h, c)

    def rect(self, x, y, w, h, c, f=False):
        if f:
            self.fill_rect(x, y, w, h, c)
            return
        self.fill_rect(x, y, w, 1, c)
        self.fill_rect(x, y + h - 1, w, 1, c)
        self.fill_rect(x, y, 1, h, c)
        self.fill_rect(x + w - 1, y, 1, h, c)

    def blit(self, fbuf, x, y, key=-1, palette=None):
        # fbuf: a FrameBuffer, or (buffer, width, height, format[, stride]) as in MicroPython.
        if palette is not None:
            raise ValueError("fbcompat: palette is not supported")
        if isinstance(fbuf, (tuple, list)):
            fbuf = FrameBuffer(*fbuf)
        if x >= self.width or y >= self.height or -x >= fbuf.width or -y >= fbuf.height:
            return
        x0 = max(0, x)
        sx0 = max(0, -x)
        x1 = min(self.width, x + fbuf.width)
        sy = max(0, -y)
        for yy in range(max(0, y), min(self.height, y + fbuf.height)):
            sx = sx0
            for xx in range(x0, x1):
                c = fbuf._get(sx, sy)
                if c != key:
                    self._set(xx, yy, c)
                sx += 1
            sy += 1
