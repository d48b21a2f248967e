"""The desktop window: the OLED drawn pixel-exact and scaled, and a clickable keypad.

Mouse: press and hold a key as long as the button is down. Keyboard: digits, Enter = OK,
Backspace = CLR, Space = POWER (hold it, as the card needs a long press), A-D on 4x4 pads.
The board runs on the wall clock in the emulator's background thread; the window only
forwards key changes and redraws the panel when its pixels change.
"""

from __future__ import annotations

import functools
import tkinter as tk
from typing import Any

from emulator.api import Emulator
from emulator.screen import to_image

REFRESH_MS = 30
_AUTOREPEAT_MS = 40  # X11 repeats a held key as release+press pairs: wait before releasing
KEYSYMS = {"Return": "OK", "KP_Enter": "OK", "BackSpace": "CLR", "space": "POWER",
           "Delete": "CLR"}


class CardWindow:
    def __init__(self, card: Emulator, scale: int = 4, title: str | None = None) -> None:
        from PIL import ImageTk

        self._imagetk = ImageTk
        self.card = card
        self.scale = scale
        self.root = tk.Tk()
        self.root.title(title or f"OpenDSC card - {card.board.board.get('title', card.board.name)}")
        self.root.configure(bg="#202428")
        self._pixels: Any = None
        self._photo: Any = None
        self.panel = tk.Label(self.root, bd=0, bg="#000000")
        self.panel.pack(padx=16, pady=(16, 8))
        self.buttons: dict[str, tk.Button] = {}
        self._pending_release: dict[str, str] = {}
        self._build_keys()
        self.root.bind("<KeyPress>", self._on_key_press)
        self.root.bind("<KeyRelease>", self._on_key_release)
        self.root.protocol("WM_DELETE_WINDOW", self.close)
        self.closed = False
        self.refresh()

    # --- layout ---
    def _build_keys(self) -> None:
        frame = tk.Frame(self.root, bg="#202428")
        frame.pack(padx=16, pady=(0, 16))
        self._button(frame, "POWER", 0, 0, columnspan=4)
        pad = self.card.board.board["keypad"]
        keys = [k for k in pad["keys"]]
        ncols = len(pad["cols"]) if pad.get("kind") == "matrix" else 3
        for i, key in enumerate(keys):
            self._button(frame, key, 1 + i // ncols, i % ncols)

    def _button(self, frame: tk.Frame, key: str, row: int, col: int, columnspan: int = 1) -> None:
        b = tk.Button(frame, text=key, width=5, height=2, relief="raised",
                      bg="#3a4048", fg="#f0f0f0", activebackground="#50a0d0")
        b.grid(row=row, column=col, columnspan=columnspan, padx=3, pady=3, sticky="ew")
        b.bind("<ButtonPress-1>", functools.partial(self._mouse, key, True))
        b.bind("<ButtonRelease-1>", functools.partial(self._mouse, key, False))
        self.buttons[key] = b

    def _mouse(self, key: str, down: bool, _event: Any) -> None:
        if down:
            self.card.key_down(key)
        else:
            self.card.key_up(key)

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
            self.card.key_down(key)

    def _on_key_release(self, event: Any) -> None:
        key = self._key_of(event)
        if key is None:
            return
        self._pending_release[key] = self.root.after(_AUTOREPEAT_MS, self._release, key)

    def _release(self, key: str) -> None:
        self._pending_release.pop(key, None)
        self.card.key_up(key)

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

    def panel_bbox(self) -> tuple[int, int, int, int]:
        """The panel picture's rectangle on the screen (left, top, right, bottom)."""
        self.root.update_idletasks()
        x, y = self.panel.winfo_rootx(), self.panel.winfo_rooty()
        return x, y, x + self.panel.winfo_width(), y + self.panel.winfo_height()

    def run(self) -> None:
        self.card.realtime()
        self.root.mainloop()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.root.destroy()
