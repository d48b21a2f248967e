"""Read the card's screen back as text, and draw it as an OLED-looking picture.

`screen_text` knows nothing of the firmware's layout; it knows its fonts (`dsc.font`, the very
bytes the firmware draws with) and reads any text drawn with them one line at a time, top
down. From the first lit row not read yet it tries each font and each vertical position that
puts that row inside a glyph cell, and takes the first reading that explains every lit pixel
of the cells' rows:

* along the line, every lit column starts a glyph: the glyph whose own first lit column would
  be there and whose whole cell matches the pixels exactly, with a dark column on each side
  (text is drawn at a fixed advance, so there always is one);
* the row just below the cells is dark (lines are at least one row apart), so a reading
  cannot cut the bottom off a line;
* blank columns between two cells beyond the font's spacing are a space (more than one
  advance: several).

A mostly lit screen is read inverted (0xA7). What no font explains comes out as "?".
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
    # (first lit column's mask) -> [(glyph, blank columns before it)]: the candidates for a
    # lit column, so that matching does not try every glyph.
    starts: dict[int, list[tuple[str, int]]] = field(repr=False)

    @property
    def spacing(self) -> int:
        return self.advance - self.width

    @classmethod
    def load(cls, chars: str, data: bytes, width: int, height: int, pages: int,
             advance: int) -> Face:
        size = width * pages
        columns: dict[str, tuple[int, ...]] = {}
        starts: dict[int, list[tuple[str, int]]] = {}
        for i, ch in enumerate(chars):
            glyph = data[i * size:(i + 1) * size]
            cols = tuple(
                sum(glyph[p * width + x] << (8 * p) for p in range(pages)) for x in range(width)
            )
            columns[ch] = cols
            lead = next((x for x, c in enumerate(cols) if c), None)
            if lead is not None:  # the space has no lit column: it is read from gaps
                starts.setdefault(cols[lead], []).append((ch, lead))
        return cls(chars, width, height, advance, columns, starts)


SMALL = Face.load(font.SMALL_CHARS, font.SMALL, font.SMALL_W, font.SMALL_H, font.SMALL_PAGES,
                  font.SMALL_ADV)
BIG = Face.load(font.BIG_CHARS, font.BIG, font.BIG_W, font.BIG_H, font.BIG_PAGES, font.BIG_ADV)


@dataclass
class Reading:
    text: str
    unknown: int  # glyphs no font explains
    ink: int      # lit pixels the reading explains
    end: int      # first row after the line's cells


def screen_text(pixels: Pixels, width: int, height: int) -> str:
    """The text on the screen, lines joined by "\n"; "" when nothing is lit."""
    rows = [[1 if row[x] else 0 for x in range(width)] for row in pixels[:height]]
    if sum(map(sum, rows)) * 2 > width * height:  # inverted display: read the dark pixels
        rows = [[1 - v for v in row] for row in rows]
    # columns[x]: column x of the whole screen as a bit mask, bit y = row y
    columns = [sum(row[x] << y for y, row in enumerate(rows)) for x in range(width)]
    lines: list[str] = []
    y = 0
    while y < len(rows):
        if any(rows[y]):
            line = read_line(columns, len(rows), y)
            lines.append(line.text)
            y = line.end
        else:
            y += 1
    return "\n".join(line for line in lines if line)


def read_line(columns: list[int], height: int, top: int) -> Reading:
    """Read the line whose first lit row is `top` (rows above it are read already)."""
    clean: list[Reading] = []
    guesses: list[Reading] = []
    for face in (SMALL, BIG):
        for y0 in range(max(0, top - face.height + 1), top + 1):
            reading = _read_at(columns, y0, face)
            below = reading.end < height and any(c >> reading.end & 1 for c in columns)
            (clean if reading.unknown == 0 and not below else guesses).append(reading)
    if clean:
        # ":" is "." over "." - the reading that explains the most pixels is the whole line.
        return max(clean, key=lambda r: r.ink)
    # Nothing reads cleanly: the best guess, and go on below the rows that touch this one.
    end = top
    while end < height and any(c >> end & 1 for c in columns):
        end += 1
    best = min(guesses, key=lambda r: r.unknown, default=Reading("?", 1, 0, end))
    return Reading(best.text or "?", best.unknown, best.ink, end)


def _read_at(columns: list[int], y0: int, face: Face) -> Reading:
    """Read the glyph cells whose top row is y0, left to right."""
    full = (1 << face.height) - 1
    masks = [(c >> y0) & full for c in columns]
    width = len(masks)

    def mask(x: int) -> int:
        return masks[x] if 0 <= x < width else 0

    out: list[str] = []
    unknown = 0
    ink = 0
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
            end = x = start + face.width
            ink += sum(bin(c).count("1") for c in face.columns[ch])
        if prev_end is not None:
            out.append(" " * _spaces(start - prev_end, face))
        out.append(ch)
        prev_end = end
    return Reading("".join(out).strip(), unknown, ink, y0 + face.height)


def _match(face: Face, mask: Callable[[int], int], x: int) -> tuple[str, int] | None:
    """The glyph whose first lit column is x: its whole cell matches, dark columns beside."""
    for ch, lead in face.starts.get(mask(x), ()):
        start = x - lead
        if mask(start - 1) or mask(start + face.width):
            continue
        if all(mask(start + i) == c for i, c in enumerate(face.columns[ch])):
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
