"""The libraries speak of operations, never of the `dsc` command line: a message, log line or
error names no `dsc ...` command (the CLI adds those, host_tools/cli/exits.py HINT_FOR_TYPE).
Docstrings and comments may say which command uses a function; strings that reach a user may
not."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMAND = re.compile(r"`dsc [a-z]|\brun dsc [a-z]")

# Modules that other work still has to move over (their messages name a command); each entry
# is how many such strings remain, so a new one fails and a removed one asks to lower it.
PENDING = {
    "provisioning/verification.py": 3,
}

# Not messages: the heading of the generated docs/boards.md says which command rewrites it.
DOCUMENTS = {"host_tools/wiring.py"}


def _library_files() -> list[Path]:
    files = [*ROOT.glob("provisioning/**/*.py"), *ROOT.glob("emulator/**/*.py"),
             *ROOT.glob("host_tools/*.py")]
    return sorted(f for f in files if "__pycache__" not in f.parts)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant):
            ids.add(id(body[0].value))
    return ids


def command_words(path: Path) -> list[str]:
    """The strings in `path` (not docstrings) that name a `dsc` command."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in skip and COMMAND.search(node.value)]


def test_library_strings_name_no_cli_command() -> None:
    found = {}
    for path in _library_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel in DOCUMENTS:
            continue
        words = command_words(path)
        if words or rel in PENDING:
            found[rel] = len(words)
    assert found == PENDING, {rel: command_words(ROOT / rel) for rel in found}


def test_the_check_sees_a_command_in_a_message(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text('"""Used by `dsc show`."""\n'
                   'def f(x):\n    """For `dsc list`."""\n'
                   '    raise ValueError(f"no card {x}: run `dsc provision` again")\n')
    assert command_words(src) == [": run `dsc provision` again"]
