"""The Tk window under Xvfb: keys clicked and typed reach the card, and the panel on the
screen is the model's pixels drawn pixel-exact (a screenshot of the X display compared with
the expected picture). Also `make demo`'s text walkthrough.

Needs the Debian package `xvfb` (`make setup` installs it); skipped with a reason if absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from emuhelpers import ocra_qn_psha1

from emulator import Emulator

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def xdisplay() -> Iterator[str]:
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (Debian package xvfb; `make setup` installs it)")
    for n in range(91, 120):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            break
    display = f":{n}"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{n}").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip("Xvfb did not start")
            time.sleep(0.05)
        yield display
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _pump(win: object, rounds: int = 5) -> None:
    for _ in range(rounds):
        win.root.update()  # type: ignore[attr-defined]
        time.sleep(0.02)


def test_window_keys_and_a_pixel_exact_panel(xdisplay: str, monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    from PIL import Image, ImageChops, ImageGrab

    from emulator.screen import to_image
    from emulator.window import CardWindow

    monkeypatch.setenv("DISPLAY", xdisplay)
    with Emulator(key=KEY) as card:  # virtual time: the test moves it, the window follows
        win = CardWindow(card, scale=3)
        try:
            _pump(win)  # mapped on the screen before events reach it
            win.buttons["POWER"].event_generate("<ButtonPress-1>")
            card.advance(1500)
            win.buttons["POWER"].event_generate("<ButtonRelease-1>")
            card.advance(100)
            assert card.screen_text() == "PIN>"
            for key in ("1", "2", "3", "4", "OK"):  # clicks
                win.buttons[key].event_generate("<ButtonPress-1>")
                card.advance(80)
                win.buttons[key].event_generate("<ButtonRelease-1>")
                card.advance(60)
            assert card.screen_text() == "CHALLNG>"
            win.root.focus_force()
            _pump(win)
            for keysym in ("1", "2", "3", "4", "5", "6", "BackSpace", "6", "Return"):
                win.root.event_generate("<KeyPress>", keysym=keysym)
                card.advance(80)
                win.root.event_generate("<KeyRelease>", keysym=keysym)
                _pump(win, 3)  # the release waits out X11 autorepeat
                card.advance(60)
            expected = ocra_qn_psha1(KEY, 8, "123456", "1234")
            assert card.screen_text() == f"{expected[:4]} {expected[4:]}"
            _pump(win, 10)
            shot = ImageGrab.grab(bbox=win.panel_bbox(), xdisplay=xdisplay).convert("RGB")
            want = to_image(card.pixels(), 3)
            shot.save(tmp_path / "window.png")
            assert shot.size == want.size
            assert ImageChops.difference(shot, want).getbbox() is None, "panel differs"
            assert isinstance(shot, Image.Image)
        finally:
            win.close()


def test_window_looks_like_the_card_and_takes_quick_clicks(
        xdisplay: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from PIL import ImageGrab

    from emulator import window as w

    monkeypatch.setenv("DISPLAY", xdisplay)
    with Emulator(key=KEY, serial_number="DSC00000042") as card:
        win = w.CardWindow(card, scale=4)
        try:
            _pump(win)
            c = win.canvas
            # The card printed as the documents show it: outline, display in its bezel, the
            # power key, the keypad in the board's order, the serial number label.
            assert c.itemcget(win.serial_label, "text") == "S/N DSC00000042"
            assert c.find_withtag("card") and c.find_withtag("bezel")
            assert set(win.buttons) == {"POWER", *card.board.board["keypad"]["keys"]}
            assert win.buttons["POWER"].cget("text") == "POWER"
            x1, y1, x2, y2 = c.bbox("card")
            assert 1.45 < (x2 - x1) / (y2 - y1) < 1.7  # a bank card's proportions
            # Quick clicks, press and release at the same instant: each is a press.
            win.buttons["POWER"].event_generate("<ButtonPress-1>")
            card.advance(1500)
            win.buttons["POWER"].event_generate("<ButtonRelease-1>")
            card.advance(200)
            assert card.screen_text() == "PIN>"
            for key in ("1", "2", "3"):
                win.buttons[key].event_generate("<ButtonPress-1>")
                win.buttons[key].event_generate("<ButtonRelease-1>")
                card.advance(150)
            assert card.screen_text() == "PIN>\n***"
            _pump(win, 10)
            shot = ImageGrab.grab(bbox=win.window_bbox(), xdisplay=xdisplay).convert("RGB")
            shot.save(tmp_path / "card-window.png")
            ox, oy = win.window_bbox()[:2]
            rx, ry = c.winfo_rootx() - ox, c.winfo_rooty() - oy
            body = shot.getpixel((rx + x1 + 12, ry + (y1 + y2) // 2))
            assert body == _rgb(w.CARD), body  # the card's colour inside its outline
            assert shot.getpixel((2, 2)) == _rgb(w.DESK)  # the desk around it
            px1, py1 = c.bbox("bezel")[:2]
            assert shot.getpixel((rx + px1 + 2, ry + py1 + 2)) == _rgb(w.BEZEL)
        finally:
            win.close()


def _rgb(color: str) -> tuple[int, int, int]:
    return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16))


def test_demo_walkthrough_without_a_display() -> None:
    env = dict(os.environ, CI="true")
    env.pop("DISPLAY", None)
    r = subprocess.run([sys.executable, "-m", "host_tools.cli.cmd_demo"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    for step in ("PIN>", "****", "CHALLNG>", "-> accepted", "(display off)",
                 "provisioned DSC00000001", "verify: accepted: alice by card DSC00000001",
                 "is now active"):
        assert step in r.stdout
