"""Scenario files: good ones pass, a failed expectation or a bad line names its line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from emuhelpers import ocra_qn_psha1

from emulator import Emulator
from emulator.scenario import ExpectationFailed, ScenarioError, parse, run

KEY = bytes(range(32))
LOGIN = """\
# a whole login
hold POWER 1500
expect PIN>
type 1234      # the PIN, masked
expect ****
press OK
expect CHALLNG>
type 123456
press OK
screen
screenshot shot.png
wait 61000
expect-off
"""
KEYS = [*"0123456789", "OK", "CLR", "POWER"]


def test_a_good_scenario_runs_and_prints_the_screen(tmp_path: Path) -> None:
    lines: list[str] = []
    with Emulator(key=KEY) as card:
        run(card, parse(LOGIN, card.board.keys), out=lines.append, base=tmp_path)
    r = ocra_qn_psha1(KEY, 8, "123456", "1234")
    assert lines == [f"[10] {r[:4]} {r[4:]}"]
    assert (tmp_path / "shot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failed_expectation_names_its_line() -> None:
    with Emulator(key=KEY) as card:
        steps = parse("hold POWER 1500\n\n# then\nexpect CHALLNG>\nexpect PIN>\n", card.board.keys)
        with pytest.raises(ExpectationFailed, match=r"scenario:4: expected 'CHALLNG>'.*'PIN>'"):
            run(card, steps)
        with pytest.raises(ExpectationFailed, match="scenario:1: expected the card off"):
            run(card, parse("expect-off", card.board.keys))


def test_power_cut_and_reboot_steps() -> None:
    with Emulator(key=KEY) as card:
        run(card, parse("hold POWER 1500\nexpect PIN>\npower-cut\nexpect-off\n"
                        "hold POWER 1500\nreboot\nexpect-off\n", card.board.keys))


@pytest.mark.parametrize(("text", "message"), [
    ("press OK\njump 3", "scenario:2: unknown step 'jump'"),
    ("press X", "scenario:1: unknown key 'X'"),
    ("type 12a", "scenario:1: unknown key 'a'"),
    ("hold OK", "scenario:1: hold takes 2 argument"),
    ("hold OK -5", "scenario:1: '-5' is not a time"),
    ("press OK\nhold OK 5", "scenario:2: '5' is not a time in ms (6..86400000)"),
    ("hold POWER 3", "scenario:1: '3' is not a time in ms (6.."),
    ("\n\nwait soon", "scenario:3: 'soon' is not a time"),
    ("expect", "scenario:1: expect needs a text"),
    ("expect   # nothing", "scenario:1: expect needs a text"),
    ("screen now", "scenario:1: screen takes 0 argument(s), got 1"),
])
def test_bad_lines_are_refused_before_anything_runs(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as e:
        parse(text, KEYS)
    assert str(e.value).startswith(message)


def test_a_hold_must_outlast_the_cards_bounce() -> None:
    assert parse("hold OK 6", KEYS)[0].args == ("OK", "6")
    with pytest.raises(ScenarioError, match=r"scenario:1: '6' is not a time in ms \(11\.\."):
        parse("hold OK 6", KEYS, bounce_ms=10)
    with Emulator(key=KEY, bounce_ms=10) as card:  # run() names the line of a refused step
        with pytest.raises(ExpectationFailed, match="scenario:2: a press must last longer"):
            run(card, parse("press OK\nhold OK 8", KEYS))


def test_comments_and_hashes_in_text() -> None:
    steps = parse("expect A#B  # a comment\n  # only a comment\npress OK # x", KEYS)
    assert [(s.line, s.op, s.args) for s in steps] == [(1, "expect", ("A#B",)),
                                                       (3, "press", ("OK",))]


def test_cli_script_exit_codes(tmp_path: Path) -> None:
    key_file = tmp_path / "seed.hex"
    key_file.write_text(KEY.hex())
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text(LOGIN)
    bad.write_text("hold POWER 1500\nexpect CHALLNG>\n")
    base = [sys.executable, "-m", "host_tools", "emulator", "--key-file", str(key_file)]
    ok = subprocess.run([*base, "--script", str(good)], capture_output=True, text=True,
                        cwd=tmp_path, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "12 steps passed" in ok.stdout
    fail = subprocess.run([*base, "--script", str(bad)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert fail.returncode == 1
    assert f"{bad}:2: expected 'CHALLNG>'" in fail.stderr
    assert KEY.hex() not in ok.stdout + ok.stderr + fail.stdout + fail.stderr
    short = tmp_path / "short.txt"
    short.write_text("# a press too short to register\nhold POWER 3\n")
    p = subprocess.run([*base, "--script", str(short)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert f"{short}:2: '3' is not a time in ms (6..86400000)" in p.stderr


def test_cli_script_behind_a_serial_port_runs_in_virtual_time(tmp_path: Path) -> None:
    # The login scenario waits 61 s (virtual): on the wall clock this took over a minute.
    import time

    key_file = tmp_path / "seed.hex"
    key_file.write_text(KEY.hex())
    script = tmp_path / "login.txt"
    script.write_text(LOGIN)
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "host_tools", "emulator", "--key-file",
                        str(key_file), "--serial", "pty", "--script", str(script)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("serial: /dev/pts/") and "12 steps passed" in p.stdout
    assert elapsed < 20
