"""QR codes as SVG (the soft card's activation URL), drawn by the pinned `segno`."""

from __future__ import annotations


def qr_svg(text: str) -> str:
    import segno
    qr = segno.make(text, error="m")
    return str(qr.svg_inline(scale=4, border=2, dark="#000", light="#fff"))
