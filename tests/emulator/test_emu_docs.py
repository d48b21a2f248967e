"""docs/emulator.md tells the truth: its marked examples run and print what it shows, the
scenario runs through the documented command, and its flag table is `dsc emulator --help`'s."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.scenario import ExpectationFailed, parse, run
from host_tools.cli.cmd_emulator import add_arguments

DOC = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"
VENV_BIN = Path(sys.executable).parent


def example(name: str) -> str:
    """The fenced block right after `<!-- example: NAME -->` in the doc."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(rf"<!-- example: {re.escape(name)} -->\s*```[\w-]*\n(.*?)```", text, re.S)
    assert found, f"docs/emulator.md has no example {name!r}"
    return found.group(1)


def run_python(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_example__"})
    return out.getvalue()


def test_the_api_example_prints_what_the_doc_shows() -> None:
    assert run_python(example("api")) == example("api-output")


def test_the_power_cut_example_enumerates_and_prints_what_the_doc_shows() -> None:
    assert run_python(example("power-cuts")) == example("power-cuts-output")


def test_the_scenario_runs_through_the_documented_commands(tmp_path: Path) -> None:
    (tmp_path / "login.txt").write_text(example("login.txt"))
    session = example("login-run").splitlines()
    commands = [line[2:] for line in session if line.startswith("$ ")]
    expected = [line for line in session if not line.startswith("$ ")]
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run(["bash", "-ec", "\n".join(commands)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected
    assert (tmp_path / "response.png").read_bytes()[:4] == b"\x89PNG"


def test_the_documented_failure_message(tmp_path: Path) -> None:
    # The doc quotes the error of the scenario with too short a wait after TOO SHORT.
    from emulator import Emulator

    text = example("login.txt").replace("wait 1500", "wait 100")
    seed_line = re.search(r"echo ([0-9a-f]+) >", example("login-run"))
    assert seed_line
    key = bytes.fromhex(seed_line.group(1))
    with Emulator(key=key) as card:
        steps = parse(text, card.board.keys, where="login.txt")
        with pytest.raises(ExpectationFailed) as e:
            run(card, steps, base=tmp_path)
    doc = " ".join(DOC.read_text(encoding="utf-8").split())
    assert f"`dsc: error: {e.value}`" in doc


def test_the_flag_table_is_the_parser() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)  # what `dsc emulator` registers
    flags = {opt for action in parser._actions for opt in action.option_strings
             if opt.startswith("--") and opt != "--help"}
    table = set(re.findall(r"^\| `(--[a-z-]+)", DOC.read_text(encoding="utf-8"), re.M))
    assert table == flags
