# The project's SSD1306 OLED driver, over I2C through the HAL (hal.i2c_write).
# Every I2C write starts with a control byte: Co (bit 7) = 0 says "no more control bytes in this
# transaction", D/C (bit 6) says whether the bytes that follow are commands (0x00) or display
# RAM data (0x40). So a whole command sequence, or a whole frame, is one write.
# The panel RAM is 128 columns x 8 pages; a page is 8 rows, one byte per column, bit 0 on top:
# the MONO_VLSB layout of framebuf, so a FrameBuffer over `fbuf` is sent as it is.
try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):  # type: ignore[no-redef]
        return x

_CTRL_CMD = const(0x00)
_CTRL_DATA = const(0x40)

_SET_MEM_MODE = const(0x20)       # + 0x00: horizontal addressing (column, then page)
_SET_COL_ADDR = const(0x21)       # + first, last column of the write window
_SET_PAGE_ADDR = const(0x22)      # + first, last page of the write window
_SCROLL_OFF = const(0x2E)
_SET_START_LINE = const(0x40)     # | line 0..63
_SET_CONTRAST = const(0x81)       # + 0..255
_SET_CHARGE_PUMP = const(0x8D)    # + 0x14 on (internal VCC), 0x10 off
_SET_SEG_REMAP = const(0xA0)      # | 1: column 127 drives SEG0 (panel not mirrored)
_SET_ENTIRE_OFF = const(0xA4)     # show the RAM (0xA5 would light every pixel)
_SET_NORM_INV = const(0xA6)       # | 1: inverted
_SET_MUX_RATIO = const(0xA8)      # + rows - 1
_SET_DISP = const(0xAE)           # | 1: display on
_SET_COM_SCAN_DEC = const(0xC8)   # scan COM[N-1] to COM0 (panel not flipped)
_SET_DISP_OFFSET = const(0xD3)    # + 0
_SET_CLOCK = const(0xD5)          # + 0x80: reset divider/frequency
_SET_PRECHARGE = const(0xD9)      # + 0xF1 internal VCC, 0x22 external
_SET_COM_PINS = const(0xDA)       # + 0x02 sequential (128x32), 0x12 alternative (128x64)
_SET_VCOM_DESEL = const(0xDB)     # + 0x30: ~0.83 x VCC


class SSD1306:
    def __init__(self, hal, width=128, height=32, addr=0x3C, external_vcc=False):
        if not (0 < width <= 128) or height not in (16, 32, 48, 64):
            raise ValueError("SSD1306: unsupported size %dx%d" % (width, height))
        self.hal = hal
        self.addr = addr
        self.width = width
        self.height = height
        self.pages = height // 8
        self.external_vcc = external_vcc
        # One buffer for the data write: the control byte, then the frame. `fbuf` views the
        # frame, so drawing into it and sending it needs no copy.
        self.buffer = bytearray(1 + width * self.pages)
        self.buffer[0] = _CTRL_DATA
        self.fbuf = memoryview(self.buffer)[1:]
        # Panels narrower than 128 columns sit in the middle of the controller's columns.
        col = (128 - width) // 2
        self._window = bytes((_CTRL_CMD, _SET_COL_ADDR, col, col + width - 1,
                              _SET_PAGE_ADDR, 0, self.pages - 1))
        self._cmd = bytearray(3)  # a command and its argument
        self._cmd[0] = _CTRL_CMD
        self._cmd1 = memoryview(self._cmd)[:2]  # a command alone
        self._flush = (self._window, self.buffer)  # show(): the window, then the frame

    def init(self):
        """Configure the controller; the display stays off until poweron()."""
        ext = self.external_vcc
        self.hal.i2c_write(self.addr, bytes((
            _CTRL_CMD,
            _SET_DISP,
            _SET_CLOCK, 0x80,
            _SET_MUX_RATIO, self.height - 1,
            _SET_DISP_OFFSET, 0,
            _SET_START_LINE | 0,
            _SET_CHARGE_PUMP, 0x10 if ext else 0x14,
            _SET_MEM_MODE, 0x00,
            _SET_SEG_REMAP | 1,
            _SET_COM_SCAN_DEC,
            # Wide panels (128x32, 96x16) wire the COM lines in sequence, the others alternate.
            _SET_COM_PINS, 0x02 if self.width > 2 * self.height else 0x12,
            _SET_CONTRAST, 0xCF,
            _SET_PRECHARGE, 0x22 if ext else 0xF1,
            _SET_VCOM_DESEL, 0x30,
            _SET_ENTIRE_OFF,
            _SET_NORM_INV,
            _SCROLL_OFF,
        )))

    def _command(self, cmd, arg=None):
        c = self._cmd
        c[1] = cmd
        if arg is None:
            self.hal.i2c_write(self.addr, self._cmd1)
        else:
            c[2] = arg
            self.hal.i2c_write(self.addr, c)

    def poweron(self):
        self._command(_SET_DISP | 1)

    def poweroff(self):
        self._command(_SET_DISP)

    def contrast(self, value):
        self._command(_SET_CONTRAST, value & 0xFF)

    def invert(self, on):
        self._command(_SET_NORM_INV | (1 if on else 0))

    def show(self, fb_buffer=None):
        """Send the whole frame: the write window, then the RAM data in one write."""
        if fb_buffer is not None and fb_buffer is not self.fbuf:
            self.fbuf[:] = fb_buffer
        self.hal.i2c_writes(self.addr, self._flush)
