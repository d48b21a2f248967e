"""Read the card's screen back as text, and draw it as an OLED-looking picture.

`screen_text` knows nothing of the firmware's layout; it knows its fonts (`dsc.font`, the very
bytes the firmware draws with) and reads any text drawn with them:

1. Rows with lit pixels form bands separated by dark rows; each band is one line of text.
   A band no taller than a small glyph is small text, a taller one large digits.
2. Along a band, every lit column starts a glyph: the reader tries each glyph of the face at
   the place its own first lit column would put it, over every vertical position the band
   allows, and takes the glyph whose whole cell matches the pixels exactly.
3. Blank columns between two cells beyond the font's normal spacing are a space (more than
   one advance: several).

A mostly lit screen is read inverted (0xA7). Unreadable glyphs come out as "?".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dsc import font
from PIL import Image, ImageDraw

Pixels = Sequence[Sequence[int]]


@dataclass(frozen=True)
class Face:
    """A font as the reader needs it: per glyph, one bit mask per column (bit 0 = top)."""

    chars: str
    width: int
    height: int
    advance: int
    columns: dict[str, tuple[int, ...]] = field(repr=False)

    @property
    def spacing(self) -> int:
        return self.advance - self.width

    @classmethod
    def load(cls, chars: str, data: bytes, width: int, height: int, pages: int,
             advance: int) -> Face:
        size = width * pages
        columns: dict[str, tuple[int, ...]] = {}
        for i, ch in enumerate(chars):
            glyph = data[i * size:(i + 1) * size]
            columns[ch] = tuple(
                sum(glyph[p * width + x] << (8 * p) for p in range(pages)) for x in range(width)
            )
        return cls(chars, width, height, advance, columns)

    def left_bearing(self, ch: str) -> int:
        """Blank columns before the glyph's first lit column."""
        cols = self.columns[ch]
        return next((i for i, c in enumerate(cols) if c), self.width)


SMALL = Face.load(font.SMALL_CHARS, font.SMALL, font.SMALL_W, font.SMALL_H, font.SMALL_PAGES,
                  font.SMALL_ADV)
BIG = Face.load(font.BIG_CHARS, font.BIG, font.BIG_W, font.BIG_H, font.BIG_PAGES, font.BIG_ADV)


def screen_text(pixels: Pixels, width: int, height: int) -> str:
    """The text on the screen, one line per band of text, joined by "\\n"; "" when dark."""
    rows = [[1 if row[x] else 0 for x in range(width)] for row in pixels[:height]]
    lit = sum(map(sum, rows))
    if lit * 2 > width * height:  # inverted display: read the dark pixels
        rows = [[1 - v for v in row] for row in rows]
    lines = [read_band(rows, top, bottom) for top, bottom in bands(rows)]
    return "\n".join(line for line in lines if line)


def bands(rows: list[list[int]]) -> list[tuple[int, int]]:
    """(first, last) row of each run of rows that have a lit pixel."""
    out: list[tuple[int, int]] = []
    start = None
    for y, row in enumerate(rows):
        if any(row) and start is None:
            start = y
        elif not any(row) and start is not None:
            out.append((start, y - 1))
            start = None
    if start is not None:
        out.append((start, len(rows) - 1))
    return out


def read_band(rows: list[list[int]], top: int, bottom: int) -> str:
    """The text of one band, read with the face its height calls for."""
    face = SMALL if bottom - top < SMALL.height else BIG
    best: tuple[str, int] | None = None
    # The glyph cells may start above the band (a line of "-" lights only its middle row).
    for y0 in range(bottom - face.height + 1, top + 1):
        text, unknown = _read_at(rows, y0, face)
        if best is None or unknown < best[1]:
            best = (text, unknown)
        if unknown == 0:
            break
    return best[0].strip() if best is not None else "?"  # None: taller than any glyph


def _column_masks(rows: list[list[int]], y0: int, height: int) -> list[int]:
    width = len(rows[0]) if rows else 0
    masks = [0] * width
    for dy in range(height):
        y = y0 + dy
        if 0 <= y < len(rows):
            row = rows[y]
            for x in range(width):
                if row[x]:
                    masks[x] |= 1 << dy
    return masks


def _read_at(rows: list[list[int]], y0: int, face: Face) -> tuple[str, int]:
    """Read the band with glyph cells starting at row y0: (text, unreadable glyph count)."""
    masks = _column_masks(rows, y0, face.height)
    width = len(masks)

    def mask(x: int) -> int:
        return masks[x] if 0 <= x < width else 0

    out: list[str] = []
    unknown = 0
    prev_end: int | None = None
    x = 0
    while x < width:
        if not masks[x]:
            x += 1
            continue
        found = _match(face, mask, x)
        if found is None:
            unknown += 1
            start = x
            while x < width and masks[x]:
                x += 1
            end = x
            ch = "?"
        else:
            ch, start = found
            end = start + face.width
            x = end
        if prev_end is not None:
            out.append(" " * _spaces(start - prev_end, face))
        out.append(ch)
        prev_end = end
    return "".join(out), unknown


def _match(face: Face, mask: Callable[[int], int], x: int) -> tuple[str, int] | None:
    for ch, cols in face.columns.items():
        if ch == " ":
            continue
        start = x - face.left_bearing(ch)
        if all(mask(start + i) == c for i, c in enumerate(cols)):
            return ch, start
    return None


def _spaces(gap: int, face: Face) -> int:
    extra = gap - face.spacing
    if extra <= 0:
        return 0
    return max(1, (extra + face.advance // 2) // face.advance)


# --- pictures -------------------------------------------------------------------------------

LIT = (150, 225, 255)      # the blue-white of a typical SSD1306 panel
DARK = (12, 14, 18)
BEZEL = (0, 0, 0)


def to_image(pixels: Pixels, scale: int = 4, border: int = 2) -> Image.Image:
    """A Pillow image of the panel: each pixel a scale x scale dot with a dark seam."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    height = len(pixels)
    width = len(pixels[0]) if height else 0
    pad = border * scale
    img = Image.new("RGB", (width * scale + 2 * pad, height * scale + 2 * pad), BEZEL)
    draw = ImageDraw.Draw(img)
    draw.rectangle((pad, pad, pad + width * scale - 1, pad + height * scale - 1), fill=DARK)
    dot = scale - 1 if scale >= 3 else scale  # leave a seam between dots when there is room
    for y, row in enumerate(pixels):
        for x, value in enumerate(row):
            if value:
                left, topy = pad + x * scale, pad + y * scale
                draw.rectangle((left, topy, left + dot - 1, topy + dot - 1), fill=LIT)
    return img


def to_png(pixels: Pixels, path: str | Path, scale: int = 4) -> None:
    """Write the screen as a PNG picture of the panel."""
    to_image(pixels, scale).save(path, format="PNG")
