"""The README's "support desk's day" block, run literally: line by line in one bash session,
against `dsc emulator --headless --serial pty`, in a fresh home directory.

Every line of the block needs an expectation below (exit status and key output), so a line
added to the README without one fails here; a line that no longer works fails here too.
"""

from __future__ import annotations

import json
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools import announce

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # .venv/bin: where `dsc` is

# README line (its start) -> (exit status, a pattern its stdout must match)
EXPECT: list[tuple[str, int, str]] = [
    ("dsc registry init", 0, r"^registry ready .*master key file \S+/config/opendsc/master\.key "
                             r"created; master admin key file \S+/admin-master\.key created$"),
    ("dsc provision --port auto", 0, r"^DSC00000001  provisioned  OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
                                     r" .*\n1 of 1 cards provisioned$"),
    ("echo 1234 | dsc assign DSC00000001 alice", 0, r"^card DSC00000001 assigned to alice"),
    ("dsc challenge alice --json > ch.json", 0, r"^$"),
    ("read ID Q", 0, r"^$"),
    ("R=$(echo 1234 | dsc card test --port auto", 0, r"^$"),
    ('dsc verify alice "$ID" "$R"', 0, r"^accepted: alice by card DSC00000001, full access$"),
    ("dsc lost DSC00000001 && dsc temp-passcode alice", 0,
     r"^card DSC00000001 lost\ntemporary passcode for alice: \S{8,}\nfull access until "),
    ("dsc audit --verify", 0, r"^audit log intact: \d+ entries, head [0-9a-f]{64}\b"),
]


def readme_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text[text.index("A support desk's day"):]
    block = after[after.index("```sh\n") + 6:]
    return [line for line in block[:block.index("```")].splitlines() if line.strip()]


def fresh_env(tmp: Path) -> dict[str, str]:
    env = {"HOME": str(tmp / "home"), "PATH": f"{BIN}:/usr/bin:/bin", "LANG": "C.UTF-8",
           "XDG_CONFIG_HOME": str(tmp / "config"), "XDG_DATA_HOME": str(tmp / "data"),
           "XDG_STATE_HOME": str(tmp / "state"), "XDG_CACHE_HOME": str(tmp / "cache"),
           "XDG_RUNTIME_DIR": str(tmp / "run"), "TMPDIR": str(tmp / "tmp")}
    for d in ("home", "run", "tmp"):
        (tmp / d).mkdir(mode=0o700)
    return env


def session_script(lines: list[str], out: Path) -> str:
    """Each README line as typed, its output and exit status kept apart (`{ }` runs it in the
    session itself, so variables carry over to the next line as at a prompt)."""
    parts = []
    for i, line in enumerate(lines):
        parts.append(f"{{\n{line}\n}} >{out}/{i}.out 2>{out}/{i}.err\necho $? >{out}/{i}.rc\n")
    parts.append(f"declare -p ID Q R >{out}/vars 2>&1\n")
    return "".join(parts)


@pytest.fixture
def emulated_card(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    env = fresh_env(tmp_path)
    desk = tmp_path / "desk"
    desk.mkdir()
    proc = subprocess.Popen(["dsc", "emulator", "--headless", "--serial", "pty"], env=env,
                            cwd=desk, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = proc.stdout.readline()
        assert line.startswith("serial: /dev/pts/"), line + proc.stderr.read()
        yield env, desk
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert list((tmp_path / "run" / "opendsc" / "emulators").iterdir()) == []
    finally:
        proc.kill()
        proc.wait()


def test_every_readme_line_has_an_expectation() -> None:
    lines = readme_block()
    assert [next((e[0] for e in EXPECT if line.startswith(e[0])), line) for line in lines] == \
        [e[0] for e in EXPECT]


def test_the_support_desks_day_runs_as_written(emulated_card: tuple[dict[str, str], Path],
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    env, desk = emulated_card
    lines = readme_block()
    out = tmp_path / "out"
    out.mkdir()
    t0 = time.monotonic()
    p = subprocess.run(["bash", "--norc", "--noprofile"], input=session_script(lines, out),
                       env=env, cwd=desk, capture_output=True, text=True, timeout=300,
                       check=False)
    assert p.returncode == 0, p.stderr
    for i, (line, (start, rc, pattern)) in enumerate(zip(lines, EXPECT, strict=True)):
        assert line.startswith(start)
        got_rc = int((out / f"{i}.rc").read_text())
        stdout = (out / f"{i}.out").read_text().rstrip("\n")
        stderr = (out / f"{i}.err").read_text()
        assert got_rc == rc, f"{line!r} exited {got_rc}: {stderr}"
        assert re.search(pattern, stdout, re.S), f"{line!r} printed {stdout!r} ({stderr})"
    # The values the lines handed on to each other.
    vars = (out / "vars").read_text()
    challenge = json.loads((desk / "ch.json").read_text())
    assert f'declare -- ID="{challenge["id"]}"' in vars
    assert f'declare -- Q="{challenge["challenge"]}"' in vars
    assert re.search(r'declare -- R="[0-9]{8}"', vars)
    config = Path(env["XDG_CONFIG_HOME"]) / "opendsc"
    for key in ("master.key", "admin-master.key"):
        assert stat.S_IMODE((config / key).stat().st_mode) == 0o600
    assert time.monotonic() - t0 < 120
    monkeypatch.setenv("XDG_RUNTIME_DIR", env["XDG_RUNTIME_DIR"])
    assert [a.board for a in announce.read_all()] == ["pico"]  # found by --port auto


def test_commands_find_the_master_admin_key_where_registry_init_puts_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from host_tools import admin_keys

    monkeypatch.delenv(admin_keys.MASTER_FILE_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with pytest.raises(admin_keys.MasterKeyFileMissing, match="does not exist"):
        admin_keys.read_master_key()
    path = admin_keys.default_master_key_file()
    assert path == tmp_path / "opendsc" / "admin-master.key"
    assert admin_keys.ensure_master_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = admin_keys.read_master_key()
    assert len(key) == admin_keys.MASTER_KEY_BYTES
    assert not admin_keys.ensure_master_key_file(path)  # kept, never replaced
    assert admin_keys.read_master_key() == key
    other = tmp_path / "elsewhere.key"
    monkeypatch.setenv(admin_keys.MASTER_FILE_ENV, str(other))
    assert admin_keys.ensure_master_key_file(admin_keys.default_master_key_file())
    assert admin_keys.read_master_key() != key
