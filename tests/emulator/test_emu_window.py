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
