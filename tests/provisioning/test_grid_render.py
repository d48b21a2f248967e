"""The online security code card really renders: PNG and PDF, the same picture, owner-only."""

from __future__ import annotations

import io
import re
import stat
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from provisioning import grid_render, temporary
from provisioning.errors import InvalidInputError

GRID = [f"{i * 37 % 10000:04d}" for i in range(64)]
EXPIRES = 1_750_000_000


def _png(tmp_path: Path, grid: list[str] = GRID) -> Image.Image:
    out = tmp_path / "card.png"
    grid_render.render(grid, "alice", EXPIRES, out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    return Image.open(out)


def test_png_has_the_grid_and_each_code_changes_its_cell(tmp_path: Path) -> None:
    image = _png(tmp_path)
    assert image.format == "PNG" and image.mode == "L" and image.size == (1470, 920)
    other = list(GRID)
    other[9] = "8888"  # row 2, column B
    diff = ImageChops.difference(image, _render_other(tmp_path, other))
    box = diff.getbbox()
    assert box is not None
    x0, y0, x1, y1 = box  # only inside cell B2: column 2, row 2 of the grid
    assert 60 + 2 * 150 <= x0 and x1 <= 60 + 3 * 150
    assert 230 + 2 * 70 <= y0 and y1 <= 230 + 3 * 70


def _render_other(tmp_path: Path, grid: list[str]) -> Image.Image:
    out = tmp_path / "other.png"
    grid_render.render(grid, "alice", EXPIRES, out)
    return Image.open(out)


def test_pdf_is_one_printable_page_of_the_same_picture(tmp_path: Path) -> None:
    out = tmp_path / "card.pdf"
    grid_render.render(GRID, "alice", EXPIRES, out)
    data = out.read_bytes()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 1
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert box is not None  # 200 dpi: 1470 x 920 pixels = 529.2 x 331.2 points
    assert (float(box[1]), float(box[2])) == pytest.approx((529.2, 331.2))
    start = data.index(b"stream", data.index(b"/DCTDecode")) + len(b"stream\n")
    embedded = Image.open(io.BytesIO(data[start:data.index(b"endstream", start)]))
    mean = ImageStat.Stat(ImageChops.difference(embedded.convert("L"), _png(tmp_path))).mean[0]
    assert embedded.size == (1470, 920) and mean < 2.0  # JPEG inside: near, not exact


def test_bad_paths_are_refused_before_anything_is_issued(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"\.png or \.pdf"):
        grid_render.check_path(tmp_path / "card.txt")
    with pytest.raises(InvalidInputError, match="no directory"):
        grid_render.check_path(tmp_path / "nowhere" / "card.png")
    assert grid_render.check_path(tmp_path / "CARD.PDF") == "PDF"


def test_grid_rows_are_row_major() -> None:
    rows = temporary.grid_rows(GRID)
    assert len(rows) == 8 and rows[1][1] == GRID[9]
