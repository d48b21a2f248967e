"""The desktop window: the card as the holder's documents show it, on the desk.

A card outline (ID-1 proportions, rounded corners) holding the OLED panel in its bezel, drawn
pixel-exact and scaled; the power key beside it; the keypad in the board's order; the issuer's
line and the serial number label printed on the card (from the card's record, `-` while blank).

Mouse: press and hold a key as long as the button is down; a click shorter than the firmware's
debounce still counts as a press (the key is kept down for a normal press, `PRESS_MS`).
Keyboard: digits, Enter = OK, Backspace = CLR, Space = POWER (hold it, as the card needs a long
press), A-D on 4x4 pads. The board runs on the wall clock in the emulator's background thread;
the window only forwards key changes and redraws the panel when its pixels change.
"""

from __future__ import annotations

import functools
import tkinter as tk
from typing import Any

from emulator.api import PRESS_MS, Emulator
from emulator.screen import to_image

REFRESH_MS = 30
LABEL_MS = 1000  # how often the serial number label looks at the card's record
_AUTOREPEAT_MS = 40  # X11 repeats a held key as release+press pairs: wait before releasing
KEYSYMS = {"Return": "OK", "KP_Enter": "OK", "BackSpace": "CLR", "space": "POWER",
           "Delete": "CLR"}

# The card's look (colours as on the printed card).
DESK = "#2b2f33"
CARD = "#14365f"        # the card body
CARD_EDGE = "#0b213c"
BEZEL = "#05080c"       # the frame around the OLED
PRINT = "#e8eef5"       # printing on the card
PRINT_DIM = "#9fb3c8"
KEY = "#dfe3e8"
KEY_TEXT = "#1b1f24"
KEY_DOWN = "#a9c9e6"
POWER = "#c8102e"
ID1_RATIO = 85.6 / 54.0  # ISO/IEC 7810 ID-1, the size of a bank card


def card_serial(card: Emulator) -> str | None:
    """The serial number in the card's record, None while it is blank (or unreadable)."""
    from dsc import record

    data = card.flash.read("record")
    if data is None:
        return None
    try:
        rec: Any = record.decode(data)  # type: ignore[no-untyped-call]
    except record.RecordError:
        return None
    return str(rec.serial)


class CardWindow:
    def __init__(self, card: Emulator, scale: int = 4, title: str | None = None) -> None:
        from PIL import ImageTk

        self._imagetk = ImageTk
        self.card = card
        self.scale = scale
        self.root = tk.Tk()
        self.root.title(title or f"OpenDSC card - {card.board.board.get('title', card.board.name)}")
        self.root.configure(bg=DESK)
        self._pixels: Any = None
        self._photo: Any = None
        self.buttons: dict[str, tk.Button] = {}
        self._pending_release: dict[str, str] = {}
        self._down_at: dict[str, int] = {}
        self.canvas = tk.Canvas(self.root, bg=DESK, highlightthickness=0)
        self.canvas.pack()
        self.panel = tk.Label(self.canvas, bd=0, bg="#000000")
        self._layout()
        self.root.bind("<KeyPress>", self._on_key_press)
        self.root.bind("<KeyRelease>", self._on_key_release)
        self.root.protocol("WM_DELETE_WINDOW", self.close)
        self.closed = False
        self.refresh()
        self._refresh_label()

    # --- layout ---
    def _layout(self) -> None:
        c, s = self.canvas, self.scale
        # the panel picture as emulator.screen.to_image draws it (its own 2-dot border)
        pw, ph = (self.card.board.width + 4) * s, (self.card.board.height + 4) * s
        pad = self.card.board.board["keypad"]
        keys = list(pad["keys"])
        ncols = len(pad["cols"]) if pad.get("kind") == "matrix" else 3
        nrows = (len(keys) + ncols - 1) // ncols
        key = max(44, 12 * s)                      # a key's side, in pixels
        gap = key // 4
        m = max(24, 6 * s)                         # the card's margin
        desk = 20                                  # the desk around the card
        left_w = pw + 2 * (s + 4)                  # the bezel's width
        pad_w = ncols * key + (ncols - 1) * gap
        pad_h = nrows * key + (nrows - 1) * gap
        w = m + left_w + 2 * m + pad_w + m
        h = max(round(w / ID1_RATIO), m + pad_h + m + 28)
        c.configure(width=w + 2 * desk, height=h + 2 * desk)
        x0, y0 = desk, desk
        _rounded(c, x0 + 4, y0 + 5, x0 + w + 4, y0 + h + 5, m, fill="#1c1f22", outline="")
        _rounded(c, x0, y0, x0 + w, y0 + h, m, fill=CARD, outline=CARD_EDGE, width=2,
                 tags="card")
        # issuer's line across the top, then the display in its bezel
        c.create_text(x0 + m, y0 + m * 0.6, anchor="w", text="OpenDSC", fill=PRINT,
                      font=("Helvetica", max(12, 3 * s), "bold"))
        c.create_text(x0 + m + left_w, y0 + m * 0.6, anchor="e", text="Digital Security Card+",
                      fill=PRINT_DIM, font=("Helvetica", max(9, 2 * s), "italic"))
        by = y0 + m + 8
        c.create_rectangle(x0 + m, by, x0 + m + left_w, by + ph + 2 * (s + 4), fill=BEZEL,
                           outline="#000000", tags="bezel")
        c.create_window(x0 + m + s + 4, by + s + 4, anchor="nw", window=self.panel,
                        width=pw, height=ph)
        # the power key under the display, with its printed name, midway to the label
        below = by + ph + 2 * (s + 4)
        py = below + max(m // 2, (y0 + h - m * 1.4 - below - key) // 2)
        self._button("POWER", x0 + m, py, key * 2, key, bg=POWER, fg="#ffffff",
                     text="POWER")
        c.create_text(x0 + m + key * 2 + gap, py + key / 2, anchor="w", fill=PRINT_DIM,
                      text="hold to switch on", font=("Helvetica", max(8, 2 * s)))
        # the serial number label, bottom left, as printed on the back of a bank card
        self.serial_label = c.create_text(x0 + m, y0 + h - m * 0.7, anchor="w", fill=PRINT,
                                          text="S/N -", font=("Courier", max(10, 3 * s),
                                                              "bold"), tags="serial")
        # the keypad on the right, in the board's order
        kx, ky = x0 + w - m - pad_w, y0 + (h - pad_h) // 2
        for i, name in enumerate(keys):
            r, col = divmod(i, ncols)
            self._button(name, kx + col * (key + gap), ky + r * (key + gap), key, key)

    def _button(self, key: str, x: float, y: float, w: int, h: int, bg: str = KEY,
                fg: str = KEY_TEXT, text: str | None = None) -> None:
        b = tk.Button(self.canvas, text=text or key, relief="raised", bd=2, bg=bg, fg=fg,
                      activebackground=KEY_DOWN, activeforeground=KEY_TEXT,
                      highlightthickness=0, font=("Helvetica", max(10, h // 4), "bold"))
        self.canvas.create_window(x, y, anchor="nw", window=b, width=w, height=h,
                                  tags=f"key:{key}")
        b.bind("<ButtonPress-1>", functools.partial(self._mouse, key, True))
        b.bind("<ButtonRelease-1>", functools.partial(self._mouse, key, False))
        self.buttons[key] = b

    # --- keys ---
    def _mouse(self, key: str, down: bool, _event: Any) -> None:
        if down:
            self._press(key)
        else:
            self._lift(key)

    def _press(self, key: str) -> None:
        self._down_at[key] = self.card.now()
        self.card.key_down(key)

    def _lift(self, key: str) -> None:
        # A click shorter than the debounce (2 scans of 10 ms) would go unseen: keep the key
        # down for a normal press from when it went down, as a finger's press lasts.
        t = self._down_at.pop(key, None)
        self.card.key_up(key, not_before=None if t is None else t + PRESS_MS)

    # --- keyboard ---
    def _key_of(self, event: Any) -> str | None:
        name = KEYSYMS.get(event.keysym)
        if name is None and len(event.keysym) == 1:
            name = event.keysym.upper()
        return name if name in self.card.board.gpio.switches else None

    def _on_key_press(self, event: Any) -> None:
        key = self._key_of(event)
        if key is None:
            return
        pending = self._pending_release.pop(key, None)
        if pending is not None:  # an autorepeat pair: the key never went up
            self.root.after_cancel(pending)
            return
        if not self.card.board.gpio.is_closed(key):
            self._press(key)

    def _on_key_release(self, event: Any) -> None:
        key = self._key_of(event)
        if key is None:
            return
        self._pending_release[key] = self.root.after(_AUTOREPEAT_MS, self._release, key)

    def _release(self, key: str) -> None:
        self._pending_release.pop(key, None)
        self._lift(key)

    # --- drawing ---
    def refresh(self) -> None:
        if self.closed:
            return
        pixels = self.card.pixels()
        if pixels != self._pixels:
            self._pixels = pixels
            self._photo = self._imagetk.PhotoImage(to_image(pixels, self.scale),
                                                   master=self.root)
            self.panel.configure(image=self._photo)
        self.root.after(REFRESH_MS, self.refresh)

    def _refresh_label(self) -> None:
        if self.closed:
            return
        self.canvas.itemconfigure(self.serial_label, text=f"S/N {card_serial(self.card) or '-'}")
        self.root.after(LABEL_MS, self._refresh_label)

    def panel_bbox(self) -> tuple[int, int, int, int]:
        """The panel picture's rectangle on the screen (left, top, right, bottom)."""
        self.root.update_idletasks()
        x, y = self.panel.winfo_rootx(), self.panel.winfo_rooty()
        return x, y, x + self.panel.winfo_width(), y + self.panel.winfo_height()

    def window_bbox(self) -> tuple[int, int, int, int]:
        """The whole window's rectangle on the screen (for a screenshot)."""
        self.root.update_idletasks()
        x, y = self.canvas.winfo_rootx(), self.canvas.winfo_rooty()
        return x, y, x + self.canvas.winfo_width(), y + self.canvas.winfo_height()

    def run(self) -> None:
        self.card.realtime()
        self.root.mainloop()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.root.destroy()


def _rounded(c: tk.Canvas, x1: float, y1: float, x2: float, y2: float, r: float,
             **kw: Any) -> int:
    """A rounded rectangle (a smoothed polygon: Tk has none of its own)."""
    pts = [x1 + r, y1, x2 - r, y1, x2, y1, x2, y1 + r, x2, y2 - r, x2, y2, x2 - r, y2,
           x1 + r, y2, x1, y2, x1, y2 - r, x1, y1 + r, x1, y1]
    return c.create_polygon(pts, smooth=True, **kw)
