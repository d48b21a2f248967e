"""Board descriptions (`boards/<name>.py`): the one place board facts live.

The firmware imports a board file as a module; the host reads the same file with
`ast.literal_eval`, so a board file holds plain literals only: `BOARD = {...}`.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from host_tools.errors import InvalidInputError

BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"
REQUIRED = ("name", "title", "port", "mpy_arch", "keypad", "power", "display", "serial", "flash")


class BoardError(InvalidInputError):
    """A board name is unknown or its file is malformed."""


def board_path(name: str) -> Path:
    return BOARDS_DIR / f"{name}.py"


def board_names() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.py") if not p.stem.startswith("_"))


def parse_board_source(source: str, where: str = "board file") -> dict[str, Any]:
    """Return the BOARD literal of a board file's source, checked for the required keys."""
    try:
        tree = ast.parse(source, filename=where)
    except SyntaxError as e:
        raise BoardError(f"{where}: not valid Python (line {e.lineno})") from None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "BOARD"):
            try:
                board = ast.literal_eval(node.value)
            except ValueError:
                raise BoardError(f"{where}: BOARD must hold plain literals only") from None
            if not isinstance(board, dict):
                raise BoardError(f"{where}: BOARD must be a dict")
            missing = [k for k in REQUIRED if k not in board]
            if missing:
                raise BoardError(f"{where}: BOARD lacks {', '.join(missing)}")
            return board
    raise BoardError(f"{where}: no BOARD = {{...}} assignment")


def load_board(name: str) -> dict[str, Any]:
    path = board_path(name)
    if not path.is_file():
        raise BoardError(f"unknown board {name!r}; known boards: {', '.join(board_names())}")
    return parse_board_source(path.read_text(encoding="utf-8"), str(path))
