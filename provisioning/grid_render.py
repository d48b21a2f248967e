"""Render an online security code card (the grid of codes) to PNG or PDF for printing.

Pillow draws the card at 200 dpi on an A6-like page: a title, the holder, the expiry date, then
the grid with column letters and row numbers. PDF output is the same image in a PDF wrapper
(Pillow's writer), so both formats print identically. The file is created new with mode 0600
and renamed into place (`provisioning.files`): it is a secret until it reaches its holder.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from provisioning.errors import InvalidInputError
from provisioning.files import check_target, write_private
from provisioning.temporary import COLUMNS, grid_rows

_CELL_W, _CELL_H, _MARGIN = 150, 70, 60
_FORMATS = {".png": "PNG", ".pdf": "PDF"}


def check_path(out: Path) -> str:
    """The Pillow format for `out`, refused before anything is issued when unsupported."""
    fmt = _FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise InvalidInputError(f"{out}: the security card is written as .png or .pdf")
    check_target(out, InvalidInputError)
    return fmt


def render(grid: list[str], user: str, expires_at: int, out: Path) -> None:
    fmt = check_path(out)
    image = _draw(grid, user, expires_at)
    write_private(out, lambda f: image.save(f, format=fmt, resolution=200.0),
                  InvalidInputError)


def render_bytes(grid: list[str], user: str, expires_at: int, fmt: str = "PDF") -> bytes:
    """The card as PDF or PNG bytes, in memory only (the console and portal never write it)."""
    if fmt not in _FORMATS.values():
        raise InvalidInputError("the security card is rendered as PNG or PDF")
    out = io.BytesIO()
    _draw(grid, user, expires_at).save(out, format=fmt, resolution=200.0)
    return out.getvalue()


def _draw(grid: list[str], user: str, expires_at: int) -> Image.Image:
    rows = grid_rows(grid)
    width = 2 * _MARGIN + _CELL_W * (len(COLUMNS) + 1)
    height = 2 * _MARGIN + 170 + _CELL_H * (len(rows) + 1)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    big, text = ImageFont.load_default(size=44), ImageFont.load_default(size=32)
    until = dt.datetime.fromtimestamp(expires_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    draw.text((_MARGIN, _MARGIN), "OpenDSC online security code card", font=big, fill=0)
    draw.text((_MARGIN, _MARGIN + 70), f"Holder: {user}    valid until {until}", font=text,
              fill=0)
    top = _MARGIN + 170
    for c, name in enumerate(COLUMNS, 1):
        _cell(draw, c, 0, top, name, big, shade=True)
    for r, codes in enumerate(rows, 1):
        _cell(draw, 0, r, top, str(r), big, shade=True)
        for c, code in enumerate(codes, 1):
            _cell(draw, c, r, top, code, big)
    return image


def _cell(draw: ImageDraw.ImageDraw, col: int, row: int, top: int, label: str,
          font: ImageFont.FreeTypeFont | ImageFont.ImageFont, shade: bool = False) -> None:
    x, y = _MARGIN + col * _CELL_W, top + row * _CELL_H
    draw.rectangle((x, y, x + _CELL_W, y + _CELL_H), fill=225 if shade else 255, outline=0,
                   width=2)
    draw.text((x + _CELL_W // 2, y + _CELL_H // 2), label, font=font, fill=0, anchor="mm")
