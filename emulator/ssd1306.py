"""An SSD1306 OLED controller decoded from its I2C byte stream.

The model keeps what the chip keeps - 128 x 64 bits of display RAM (8 pages of 128 column
bytes, bit 0 = top row of the page) and the command registers - and computes the image a
panel of `width` x `height` pixels shows from them, the way the chip's row/column drivers do:

* I2C transaction: control byte (Co bit 7, D/C bit 6), then command or data bytes. Co=0: the
  rest of the transaction is all commands (D/C=0) or all RAM data (D/C=1); Co=1: one byte,
  then another control byte. A command's argument bytes may arrive in later transactions.
* Data bytes go to RAM at the address pointer, which then moves as the addressing mode (0x20)
  says: horizontal and vertical walk the 0x21/0x22 window, page mode walks one page and wraps
  to the column set by 0x00-0x1F. 0x21/0x22, 0xB0-0xB7 and 0x00-0x1F set the pointer in
  every mode.
* Panel pixel (x, y): the panel is wired so that the usual set-up (segment remap 0xA1, COM scan
  0xC8, the COM pin layout the panel needs) shows RAM row y, column x upright. Other settings
  mirror, flip, shift (start line, offset) or scramble (wrong COM pins, multiplex) the image
  as on a real panel.

Not modelled: scrolling is accepted (and recorded) but the image does not move; contrast,
clock, pre-charge and VCOMH are stored only. Commands the SSD1306 does not have are recorded
in `errors`, never raised. A write to another address raises OSError like a NACK on the bus.
"""

from __future__ import annotations

import errno

RAM_COLUMNS = 128
RAM_PAGES = 8
RAM_ROWS = 64

HORIZONTAL, VERTICAL, PAGE = 0, 1, 2

# Commands followed by argument bytes, and how many.
ARGUMENTS = {
    0x20: 1,  # memory addressing mode
    0x21: 2,  # column window
    0x22: 2,  # page window
    0x26: 6, 0x27: 6,  # horizontal scroll set-up
    0x29: 5, 0x2A: 5,  # vertical and horizontal scroll set-up
    0x81: 1,  # contrast
    0x8D: 1,  # charge pump
    0xA3: 2,  # vertical scroll area
    0xA8: 1,  # multiplex ratio
    0xAD: 1,  # internal IREF selection (SSD1306B; drivers send it, harmless)
    0xD3: 1,  # display offset
    0xD5: 1,  # clock divide / oscillator
    0xD9: 1,  # pre-charge period
    0xDA: 1,  # COM pins hardware configuration
    0xDB: 1,  # VCOMH deselect level
}


# Commands without arguments that set one register to a value.
FLAGS = {
    0x2E: ("scrolling", False), 0x2F: ("scrolling", True),
    0xA0: ("seg_remap", False), 0xA1: ("seg_remap", True),
    0xA4: ("entire_on", False), 0xA5: ("entire_on", True),
    0xA6: ("inverted", False), 0xA7: ("inverted", True),
    0xAE: ("display_on", False), 0xAF: ("display_on", True),
    0xC0: ("com_reversed", False), 0xC8: ("com_reversed", True),
}


def panel_com_pins(width: int, height: int) -> int:
    """The COM pin configuration (0xDA argument) a panel of this size is wired for."""
    return 0x02 if width > 2 * height else 0x12


def _pin_of_com(com: int, config: int) -> int:
    """Physical COM pin driven by logical COM line `com` under a 0xDA configuration."""
    if config & 0x20:  # left/right remap: the two halves swap sides
        com ^= 32
    if config & 0x10:  # alternative: the halves interleave (even pins, then odd pins)
        return 2 * com if com < 32 else 2 * (com - 32) + 1
    return com


class Ssd1306Model:
    """The controller behind a `width` x `height` panel at I2C address `addr`."""

    def __init__(self, width: int = 128, height: int = 32, addr: int = 0x3C,
                 external_vcc: bool = False, com_pins: int | None = None) -> None:
        if not (0 < width <= RAM_COLUMNS and 0 < height <= RAM_ROWS):
            raise ValueError(f"SSD1306 panel size {width}x{height} is not possible")
        self.width = width
        self.height = height
        self.addr = addr
        self.external_vcc = external_vcc
        self.panel_com_pins = panel_com_pins(width, height) if com_pins is None else com_pins
        self.errors: list[str] = []
        self.writes = 0  # I2C transactions seen
        self.gdram = bytearray(RAM_COLUMNS * RAM_PAGES)
        self.reset()

    def reset(self) -> None:
        """The power-on/RES state of the datasheet (RAM content is left as it is)."""
        self.display_on = False
        self.contrast = 0x7F
        self.inverted = False
        self.entire_on = False
        self.seg_remap = False
        self.com_reversed = False
        self.mux = 64
        self.offset = 0
        self.start_line = 0
        self.com_pins = 0x12
        self.charge_pump = False
        self.mode = PAGE
        self.col_start, self.col_end = 0, RAM_COLUMNS - 1
        self.page_start, self.page_end = 0, RAM_PAGES - 1
        self.col = 0
        self.page = 0
        self.page_col_start = 0
        self.scrolling = False
        self.scroll_setup: dict[int, list[int]] = {}
        self.clock = 0x80
        self.precharge = 0x22
        self.vcomh = 0x20
        self.iref = 0x00
        self._pending: list[int] = []
        self._image: list[list[int]] | None = None

    # --- the bus ---------------------------------------------------------------------------

    def i2c_write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        """One I2C write transaction addressed to `addr` (a 7-bit address)."""
        if addr != self.addr:
            raise OSError(errno.ENODEV, f"no I2C device answers at 0x{addr:02X}")
        self.writes += 1
        buf = bytes(data)
        i = 0
        while i < len(buf):
            control = buf[i]
            if control & 0x3F:
                self._error(f"control byte 0x{control:02X} has reserved bits set")
            is_data = bool(control & 0x40)
            if control & 0x80:  # Co=1: exactly one byte, then the next control byte
                chunk = buf[i + 1:i + 2]
                i += 2
            else:  # Co=0: the rest of the transaction
                chunk = buf[i + 1:]
                i = len(buf)
            self._feed(chunk, is_data)
        self._image = None

    def _feed(self, chunk: bytes, is_data: bool) -> None:
        if not is_data:
            for byte in chunk:
                self._command_byte(byte)
            return
        if chunk and self._pending:
            self._error(f"data while command 0x{self._pending[0]:02X} waits for arguments")
            self._pending = []
        for byte in chunk:
            self._write_ram(byte)

    def _error(self, text: str) -> None:
        self.errors.append(text)

    # --- commands --------------------------------------------------------------------------

    def _command_byte(self, byte: int) -> None:
        if self._pending:
            self._pending.append(byte)
        elif byte in ARGUMENTS:
            self._pending = [byte]
        else:
            self._single(byte)
            return
        cmd = self._pending[0]
        if len(self._pending) > ARGUMENTS[cmd]:
            args = self._pending[1:]
            self._pending = []
            self._with_args(cmd, args)

    def _single(self, cmd: int) -> None:
        # The datasheet names 0x00-0x1F and 0xB0-0xB7 "for page addressing mode", but chips
        # move the pointer in every mode, and drivers rely on it (Adafruit's page_addressing
        # sends 0x20 0x10, which is horizontal mode).
        if cmd <= 0x0F:  # lower nibble of the page-mode column start
            self.page_col_start = (self.page_col_start & 0xF0) | cmd
            self.col = self.page_col_start
        elif cmd <= 0x1F:  # upper nibble
            self.page_col_start = ((cmd & 0x07) << 4) | (self.page_col_start & 0x0F)
            self.col = self.page_col_start
        elif 0x40 <= cmd <= 0x7F:
            self.start_line = cmd & 0x3F
        elif 0xB0 <= cmd <= 0xB7:
            self.page = cmd & 0x07
        elif cmd in FLAGS:
            name, value = FLAGS[cmd]
            setattr(self, name, value)
        elif cmd != 0xE3:  # 0xE3 is the NOP
            self._error(f"unknown command 0x{cmd:02X}")

    def _with_args(self, cmd: int, args: list[int]) -> None:
        if cmd == 0x20:
            self._set_mode(args[0])
        elif cmd == 0x21:
            self.col_start, self.col_end = args[0] & 0x7F, args[1] & 0x7F
            self._check_window("column", self.col_start, self.col_end)
            self.col = self.col_start
        elif cmd == 0x22:
            self.page_start, self.page_end = args[0] & 0x07, args[1] & 0x07
            self._check_window("page", self.page_start, self.page_end)
            self.page = self.page_start
        elif cmd == 0x81:
            self.contrast = args[0]
        elif cmd == 0x8D:
            self._set_charge_pump(args[0])
        elif cmd == 0xA8:
            self._set_mux(args[0])
        elif cmd == 0xD3:
            self.offset = args[0] & 0x3F
        elif cmd == 0xDA:
            if args[0] & 0xCF != 0x02:
                self._error(f"COM pins configuration 0x{args[0]:02X} is not 0x02 | A4 | A5")
            self.com_pins = args[0] & 0x30
        elif cmd == 0xD5:
            self.clock = args[0]
        elif cmd == 0xD9:
            self.precharge = args[0]
        elif cmd == 0xDB:
            self.vcomh = args[0]
        elif cmd == 0xAD:
            self.iref = args[0]
        else:  # scroll set-ups: kept, the image does not move (see the module doc)
            self.scroll_setup[cmd] = args

    def _set_mode(self, value: int) -> None:
        mode = value & 0x03
        if mode == 3:
            self._error("addressing mode 3 is invalid")
            return
        self.mode = mode

    def _set_charge_pump(self, value: int) -> None:
        if value & 0xFB != 0x10:
            self._error(f"charge pump argument 0x{value:02X} is not 0x10 or 0x14")
            return
        self.charge_pump = bool(value & 0x04)

    def _set_mux(self, value: int) -> None:
        rows = (value & 0x3F) + 1
        if rows < 16:
            self._error(f"multiplex ratio {rows} is invalid (16..64)")
            return
        self.mux = rows

    def _check_window(self, what: str, start: int, end: int) -> None:
        if start > end:
            self._error(f"{what} window {start}..{end} ends before it starts")

    # --- display RAM -----------------------------------------------------------------------

    def _write_ram(self, byte: int) -> None:
        self.gdram[self.page * RAM_COLUMNS + self.col] = byte
        if self.mode == HORIZONTAL:
            self.col += 1
            if self.col > self.col_end or self.col >= RAM_COLUMNS:
                self.col = self.col_start
                self.page += 1
                if self.page > self.page_end or self.page >= RAM_PAGES:
                    self.page = self.page_start
        elif self.mode == VERTICAL:
            self.page += 1
            if self.page > self.page_end or self.page >= RAM_PAGES:
                self.page = self.page_start
                self.col += 1
                if self.col > self.col_end or self.col >= RAM_COLUMNS:
                    self.col = self.col_start
        else:
            self.col += 1
            if self.col >= RAM_COLUMNS:
                self.col = self.page_col_start

    def ram_bit(self, column: int, row: int) -> int:
        """The RAM bit at column 0..127, row 0..63."""
        return (self.gdram[(row >> 3) * RAM_COLUMNS + column] >> (row & 7)) & 1

    # --- what the panel shows --------------------------------------------------------------

    @property
    def is_on(self) -> bool:
        """The panel is lit: display on, with a driving voltage (charge pump or external)."""
        return self.display_on and (self.charge_pump or self.external_vcc)

    def pixels(self) -> list[list[int]]:
        """The visible image: `height` rows of `width` values, 1 = lit."""
        if self._image is None:
            self._image = self._compute()
        return [row[:] for row in self._image]

    def _compute(self) -> list[list[int]]:
        dark = [[0] * self.width for _ in range(self.height)]
        if not self.is_on:
            return dark
        if self.entire_on:
            return [[1] * self.width for _ in range(self.height)]
        columns = [self._column_of(x) for x in range(self.width)]
        flip = 1 if self.inverted else 0
        image = []
        for y in range(self.height):
            row = self._ram_row_of(y)
            if row is None:  # a line no row counter drives stays dark, inverted or not
                image.append([0] * self.width)
                continue
            page = (row >> 3) * RAM_COLUMNS
            bit = row & 7
            image.append([((self.gdram[page + c] >> bit) & 1) ^ flip for c in columns])
        return image

    def _column_of(self, x: int) -> int:
        # The panel's column x is on SEG 127 - x - margin (narrow panels sit in the middle);
        # remap 0xA1 drives SEG s from column 127 - s, 0xA0 from column s.
        seg = RAM_COLUMNS - 1 - x - (RAM_COLUMNS - self.width) // 2
        return RAM_COLUMNS - 1 - seg if self.seg_remap else seg

    def _ram_row_of(self, y: int) -> int | None:
        """The RAM row shown on panel row y, or None when no row counter drives that line."""
        # Which pin the panel wired to row y (it expects COM scan 0xC8 and its own 0xDA
        # setting), which logical COM line drives that pin now, and which row the row counter
        # (start line, offset, multiplex) puts on that line.
        pin = _pin_of_com(self.height - 1 - y, self.panel_com_pins)
        com = next(c for c in range(RAM_ROWS) if _pin_of_com(c, self.com_pins) == pin)
        if self.com_reversed:
            com = (self.mux - 1 - com) % RAM_ROWS
        counter = (com + self.offset) % RAM_ROWS
        if counter >= self.mux:
            return None
        return (self.start_line + counter) % RAM_ROWS
