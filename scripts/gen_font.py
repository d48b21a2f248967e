"""Generate firmware/dsc/font.py from the glyph drawings below.

    python scripts/gen_font.py           # rewrite firmware/dsc/font.py
    python scripts/gen_font.py --check   # exit 1 when font.py differs from what this generates

The glyphs are drawn here as string art ('#' = lit, '.' = dark) so that a reviewer can see
them; the firmware gets plain bytes so every runtime renders exactly the same pixels.
Both fonts are stored in the SSD1306/framebuf MONO_VLSB layout: for each 8-row band (page) of
the glyph, one byte per column with bit 0 the top row of the band; pages follow each other.
"""

from __future__ import annotations

import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "firmware" / "dsc" / "font.py"

# Small font: 5x7 glyphs in a 6x8 cell (one blank column on the right, one blank row below).
SMALL_ART = """
' '
.....
.....
.....
.....
.....
.....
.....
'0'
.###.
#...#
#..##
#.#.#
##..#
#...#
.###.
'1'
..#..
.##..
..#..
..#..
..#..
..#..
.###.
'2'
.###.
#...#
....#
...#.
..#..
.#...
#####
'3'
#####
...#.
..#..
...#.
....#
#...#
.###.
'4'
...#.
..##.
.#.#.
#..#.
#####
...#.
...#.
'5'
#####
#....
####.
....#
....#
#...#
.###.
'6'
..##.
.#...
#....
####.
#...#
#...#
.###.
'7'
#####
....#
...#.
..#..
.#...
.#...
.#...
'8'
.###.
#...#
#...#
.###.
#...#
#...#
.###.
'9'
.###.
#...#
#...#
.####
....#
...#.
.##..
'A'
.###.
#...#
#...#
#####
#...#
#...#
#...#
'B'
####.
#...#
#...#
####.
#...#
#...#
####.
'C'
.###.
#...#
#....
#....
#....
#...#
.###.
'D'
###..
#..#.
#...#
#...#
#...#
#..#.
###..
'E'
#####
#....
#....
####.
#....
#....
#####
'F'
#####
#....
#....
####.
#....
#....
#....
'G'
.###.
#...#
#....
#.###
#...#
#...#
.####
'H'
#...#
#...#
#...#
#####
#...#
#...#
#...#
'I'
.###.
..#..
..#..
..#..
..#..
..#..
.###.
'J'
..###
...#.
...#.
...#.
...#.
#..#.
.##..
'K'
#...#
#..#.
#.#..
##...
#.#..
#..#.
#...#
'L'
#....
#....
#....
#....
#....
#....
#####
'M'
#...#
##.##
#.#.#
#.#.#
#...#
#...#
#...#
'N'
#...#
#...#
##..#
#.#.#
#..##
#...#
#...#
'O'
.###.
#...#
#...#
#...#
#...#
#...#
.###.
'P'
####.
#...#
#...#
####.
#....
#....
#....
'Q'
.###.
#...#
#...#
#...#
#.#.#
#..#.
.##.#
'R'
####.
#...#
#...#
####.
#.#..
#..#.
#...#
'S'
.####
#....
#....
.###.
....#
....#
####.
'T'
#####
..#..
..#..
..#..
..#..
..#..
..#..
'U'
#...#
#...#
#...#
#...#
#...#
#...#
.###.
'V'
#...#
#...#
#...#
#...#
#...#
.#.#.
..#..
'W'
#...#
#...#
#...#
#.#.#
#.#.#
#.#.#
.#.#.
'X'
#...#
#...#
.#.#.
..#..
.#.#.
#...#
#...#
'Y'
#...#
#...#
.#.#.
..#..
..#..
..#..
..#..
'Z'
#####
....#
...#.
..#..
.#...
#....
#####
'>'
.#...
..#..
...#.
....#
...#.
..#..
.#...
'<'
...#.
..#..
.#...
#....
.#...
..#..
...#.
'*'
.....
..#..
#.#.#
.###.
#.#.#
..#..
.....
'-'
.....
.....
.....
#####
.....
.....
.....
'+'
.....
..#..
..#..
#####
..#..
..#..
.....
'='
.....
.....
#####
.....
#####
.....
.....
':'
.....
.##..
.##..
.....
.##..
.##..
.....
'.'
.....
.....
.....
.....
.....
.##..
.##..
','
.....
.....
.....
.....
.##..
..#..
.#...
'/'
.....
....#
...#.
..#..
.#...
#....
.....
'?'
.###.
#...#
....#
...#.
..#..
.....
..#..
'!'
..#..
..#..
..#..
..#..
..#..
.....
..#..
'('
...#.
..#..
.#...
.#...
.#...
..#..
...#.
')'
.#...
..#..
...#.
...#.
...#.
..#..
.#...
"""

# Large font for the response (and typed input): 10x16 digits with 2-pixel strokes, drawn in
# a 12-pixel advance so that "12345 67890" still fits 128 columns.
BIG_ART = """
' '
..........
..........
..........
..........
..........
..........
..........
..........
..........
..........
..........
..........
..........
..........
..........
..........
'0'
..######..
.########.
###....###
##......##
##......##
##......##
##......##
##......##
##......##
##......##
##......##
##......##
##......##
###....###
.########.
..######..
'1'
....##....
...###....
..####....
.##.##....
....##....
....##....
....##....
....##....
....##....
....##....
....##....
....##....
....##....
....##....
.########.
.########.
'2'
..######..
.########.
###....###
##......##
........##
.......###
......###.
.....###..
....###...
...###....
..###.....
.###......
###.......
##........
##########
##########
'3'
..######..
.########.
###....###
##......##
........##
........##
.......###
...#####..
...#####..
.......###
........##
........##
##......##
###....###
.########.
..######..
'4'
......###.
.....####.
....##.##.
...##..##.
..##...##.
.##....##.
##.....##.
##.....##.
##########
##########
.......##.
.......##.
.......##.
.......##.
.......##.
.......##.
'5'
##########
##########
##........
##........
##........
##.#####..
#########.
###....###
........##
........##
........##
........##
##......##
###....###
.########.
..######..
'6'
...#####..
..######..
.###......
###.......
##........
##........
##.#####..
#########.
###....###
##......##
##......##
##......##
##......##
###....###
.########.
..######..
'7'
##########
##########
........##
.......###
......###.
......##..
.....###..
.....##...
....###...
....##....
....##....
...###....
...##.....
...##.....
...##.....
...##.....
'8'
..######..
.########.
###....###
##......##
##......##
###....###
.########.
..######..
.########.
###....###
##......##
##......##
##......##
###....###
.########.
..######..
'9'
..######..
.########.
###....###
##......##
##......##
##......##
###....###
.#########
..#####.##
........##
........##
........##
.......###
......###.
..######..
..#####...
'*'
..........
..........
..........
....##....
....##....
##..##..##
###.##.###
.########.
...####...
.########.
###.##.###
##..##..##
....##....
....##....
..........
..........
"""


class Face:
    """One font: its characters and their drawings, all of one size."""

    def __init__(self, name: str, art: str, width: int, height: int, advance: int) -> None:
        self.name = name
        self.width = width
        self.height = height
        self.advance = advance
        self.glyphs = parse(art, width, height)

    @property
    def chars(self) -> str:
        return "".join(self.glyphs)

    def encode(self) -> bytes:
        return b"".join(vlsb(rows, self.width) for rows in self.glyphs.values())


def parse(art: str, width: int, height: int) -> dict[str, list[str]]:
    glyphs: dict[str, list[str]] = {}
    lines = [line for line in art.strip().splitlines() if line.strip()]
    for i in range(0, len(lines), height + 1):
        head = lines[i]
        if not (len(head) == 3 and head[0] == head[2] == "'"):
            raise ValueError(f"line {i + 1}: expected a quoted character, got {head!r}")
        rows = lines[i + 1:i + 1 + height]
        if len(rows) != height or any(len(r) != width or set(r) - {"#", "."} for r in rows):
            raise ValueError(f"glyph {head}: needs {height} rows of {width} '#'/'.'")
        if head[1] in glyphs:
            raise ValueError(f"glyph {head} drawn twice")
        glyphs[head[1]] = rows
    return glyphs


def vlsb(rows: list[str], width: int) -> bytes:
    """MONO_VLSB bytes of one glyph: page by page, one byte per column, bit 0 on top."""
    out = bytearray()
    for page in range(0, len(rows), 8):
        band = rows[page:page + 8]
        for x in range(width):
            out.append(sum(1 << y for y, row in enumerate(band) if row[x] == "#"))
    return bytes(out)


SMALL = Face("SMALL", SMALL_ART, 5, 7, 6)
BIG = Face("BIG", BIG_ART, 10, 16, 12)


def wrap_bytes(data: bytes, indent: str = "    ", per_line: int = 20) -> str:
    chunks = [data[i:i + per_line] for i in range(0, len(data), per_line)]
    return "\n".join(indent + 'b"' + "".join(f"\\x{b:02x}" for b in c) + '"' for c in chunks)


def face_source(face: Face, comment: str) -> str:
    pages = (face.height + 7) // 8
    return (
        f"# {comment}\n"
        f"{face.name}_CHARS = {face.chars!r}\n"
        f"{face.name}_W = const({face.width})  # glyph columns\n"
        f"{face.name}_H = const({face.height})  # glyph rows that can be lit\n"
        f"{face.name}_PAGES = const({pages})  # 8-row bands per glyph bitmap\n"
        f"{face.name}_ADV = const({face.advance})  # columns from one glyph to the next\n"
        f"{face.name} = (\n{wrap_bytes(face.encode())}\n)\n"
    )


def render() -> str:
    return (
        "# The project's fonts. GENERATED by scripts/gen_font.py from its string art: edit the\n"
        "# drawings there and run it again, do not edit the bytes here.\n"
        "# Glyph i of a face is FACE[i * n:(i + 1) * n] with n = FACE_W * FACE_PAGES, in the\n"
        "# MONO_VLSB layout of framebuf and the SSD1306: per 8-row band, one byte per column,\n"
        "# bit 0 = top row. Characters a face lacks are drawn as '?' (small) by dsc.display.\n"
        "try:\n"
        "    from micropython import const  # pyright: ignore[reportAssignmentType]\n"
        "except ImportError:  # CPython\n"
        "    def const(x):  # type: ignore[no-redef]\n"
        "        return x\n"
        "\n"
        + face_source(SMALL, "Text: 5x7 glyphs, 6-column advance, upper case only.")
        + "\n"
        + face_source(BIG, "Response digits (and typed input): 10x16, 12-column advance.")
    )


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run python scripts/gen_font.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(SMALL.glyphs)} small and {len(BIG.glyphs)} large glyphs)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
