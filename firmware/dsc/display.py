# Draws the card's views (see "What the card shows" in docs/architecture.md) into a frame
# buffer with the project's own fonts, and sends the frame to the SSD1306 only when the view
# changed. Layout (docs/display.md): lines are stacked and centred vertically; the prompt and
# typed input sit at the left margin, the response and messages are centred. The response,
# and typed input that fits, use the large digits; everything else the small font.
try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):  # type: ignore[no-redef]
        return x

try:
    import framebuf
except ImportError:  # CPython
    from dsc import fbcompat as framebuf

from dsc import font
from dsc.ssd1306 import SSD1306

_MARGIN = const(2)    # blank columns left of left-aligned text
_GAP = const(3)       # blank rows between lines, when they fit
_MIN_GAP = const(1)   # at least one blank row, so lines stay apart (the emulator reads them)


class _Face:
    """One font plus a scratch frame buffer holding the glyph being drawn."""

    def __init__(self, chars, data, w, h, pages, adv):
        self.chars = chars
        self.data = memoryview(data)
        self.w = w
        self.h = h
        self.adv = adv
        self.size = w * pages
        self.buf = bytearray(self.size)
        self.fb = framebuf.FrameBuffer(self.buf, w, pages * 8, framebuf.MONO_VLSB)

    def has(self, text):
        for ch in text:
            if ch != " " and self.chars.find(ch) < 0:
                return False
        return True


class Display:
    def __init__(self, hal):
        cfg = hal.board.get("display")
        if not cfg:
            raise ValueError("board has no display")
        self.width = cfg["width"]
        self.height = cfg["height"]
        self.panel = SSD1306(hal, self.width, self.height, cfg.get("addr", 0x3C),
                             cfg.get("external_vcc", False))
        self.fb = framebuf.FrameBuffer(self.panel.fbuf, self.width, self.height,
                                       framebuf.MONO_VLSB)
        self.small = _Face(font.SMALL_CHARS, font.SMALL, font.SMALL_W, font.SMALL_H,
                           font.SMALL_PAGES, font.SMALL_ADV)
        self.big = _Face(font.BIG_CHARS, font.BIG, font.BIG_W, font.BIG_H,
                         font.BIG_PAGES, font.BIG_ADV)
        self._view = None     # the view on the panel; None: unknown, send everything again
        self._ready = False   # controller configured since boot / the last bus error
        self._lit = False

    def render(self, view):
        """Show `view`; talks to the panel only when it differs from the one shown."""
        if view == self._view:
            return
        if view == ("off",):
            self.off()
            return
        lines = self._layout(view)  # a bad view raises here, before anything changes
        try:
            if not self._ready:
                self.panel.init()
                self._ready = True
            self._draw(lines)
            self.panel.show()
            if not self._lit:
                self.panel.poweron()
                self._lit = True
        except OSError:
            self._lost()
            raise
        self._view = view

    def off(self):
        """Power the panel down (its RAM is kept; the next render redraws anyway)."""
        try:
            self.panel.poweroff()
        except OSError:
            self._lost()
            raise
        self._lit = False
        self._view = ("off",)

    def _lost(self):
        # The bus failed part-way: the panel state is unknown, so start over next time.
        self._ready = False
        self._lit = False
        self._view = None

    # --- layout: a view becomes [(text, face, centred), ...] ---------------------------------

    def _layout(self, view):
        if not isinstance(view, tuple) or not view:
            raise ValueError("display: a view is a non-empty tuple")
        kind = view[0]
        prompt = len(view) == 3 and isinstance(view[2], int)
        if kind == "pin" and prompt and isinstance(view[1], int) and view[1] >= 0:
            return self._prompt("PIN>", "*" * view[1], view[2])
        if kind == "challenge" and prompt and isinstance(view[1], str):
            return self._prompt("CHALLNG>", view[1].upper(), view[2])
        if kind == "response" and len(view) == 2 and isinstance(view[1], str):
            return self._response(view[1].upper())
        if kind == "message" and len(view) >= 2:
            lines = []
            for text in view[1:]:
                if not isinstance(text, str):
                    raise ValueError("display: message lines are str")
                for part in self._wrap(text.upper()):
                    lines.append((part, self.small, True))
            return lines
        # Name only the kind: a view's other fields are never echoed into an error.
        raise ValueError("display: bad %r view" % (kind,))

    def _prompt(self, prompt, typed, length):
        # The font follows the expected length, so it does not change while the user types.
        lines = [(prompt, self.small, False)]
        if typed:
            if self._fits(typed, self.big) and self._fits("0" * length, self.big):
                lines.append((typed, self.big, False))
            else:
                for part in self._chunks(typed):
                    lines.append((part, self.small, False))
        return lines

    def _response(self, digits):
        # Two groups (1234 5678); up to 5 digits stay one group.
        n = len(digits)
        text = digits if n <= 5 else digits[:n // 2] + " " + digits[n // 2:]
        if self._fits(digits, self.big):
            return [(text, self.big, True)]
        return [(part, self.small, True) for part in self._chunks(digits)]

    def _fits(self, text, face):
        return face.has(text) and len(text) * face.adv - (face.adv - face.w) <= self.width - 2 * _MARGIN

    def _per_line(self):
        return (self.width - 2 * _MARGIN + font.SMALL_ADV - font.SMALL_W) // font.SMALL_ADV

    def _chunks(self, text):
        n = self._per_line()
        return [text[i:i + n] for i in range(0, len(text), n)]

    def _wrap(self, text):
        # Word wrap to the line width; a word longer than a line is cut.
        n = self._per_line()
        out = []
        line = ""
        for word in text.split():
            while len(word) > n:
                if line:
                    out.append(line)
                    line = ""
                out.append(word[:n])
                word = word[n:]
            if not line:
                line = word
            elif len(line) + 1 + len(word) <= n:
                line += " " + word
            else:
                out.append(line)
                line = word
        if line:
            out.append(line)
        return out

    # --- drawing ----------------------------------------------------------------------------

    def _draw(self, lines):
        self.fb.fill(0)
        if not lines:
            return
        gap = _GAP
        while True:
            total = (len(lines) - 1) * gap
            for line in lines:
                total += line[1].h
            if total <= self.height or len(lines) < 2:
                break
            if gap > _MIN_GAP:
                gap = _MIN_GAP
            else:
                lines = lines[:1] + lines[2:]  # keep the first line and the newest input
        y = max(0, (self.height - total) // 2)
        for text, face, centred in lines:
            self._text(text, face, y, centred)
            y += face.h + gap

    def _text(self, text, face, y, centred):
        glyphs = len(text) - text.count(" ")
        spaces = len(text) - glyphs
        ink = glyphs * face.adv - (face.adv - face.w) if glyphs else 0
        room = self.width - 2 * _MARGIN
        space = face.adv
        if spaces and ink + spaces * space > room:  # squeeze the gap between groups
            space = max(1, (room - ink) // spaces)
        x = (self.width - ink - spaces * space) // 2 if centred else _MARGIN
        unknown = face.chars.find("?")
        size = face.size
        for ch in text:
            if ch == " ":
                x += space
                continue
            i = face.chars.find(ch)
            if i < 0:
                i = unknown
            face.buf[:] = face.data[i * size:(i + 1) * size]
            self.fb.blit(face.fb, x, y, 0)
            x += face.adv
