"""The layer contract, read from the source (every import statement, also those inside functions):

    dsc  <-  host_tools  <-  {provisioning, emulator}  <-  host_tools.web  <-  host_tools.cli

An arrow points from a layer to one it may import. `provisioning` and `emulator` never import
each other; nothing imports `host_tools.cli` but the console-script entry
(`host_tools/__main__.py`); `host_tools.web` (the served side, when it exists) is a top layer
that only `host_tools.cli` may import. Under firmware/, only `dsc/hal_machine.py` and `main.py`
import `machine`: the rest of the firmware runs on the host unchanged.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("dsc", "host_tools", "provisioning", "emulator", "host_tools.web", "host_tools.cli")
# Which layers each layer may import (itself included).
ALLOWED: dict[str, set[str]] = {
    "dsc": {"dsc"},
    "host_tools": {"dsc", "host_tools"},
    "provisioning": {"dsc", "host_tools", "provisioning"},
    "emulator": {"dsc", "host_tools", "emulator"},
    "host_tools.web": {"dsc", "host_tools", "provisioning", "emulator", "host_tools.web"},
    "host_tools.cli": set(LAYERS),
}
ENTRY_POINTS = {"host_tools/__main__.py"}
MACHINE_OK = {"firmware/dsc/hal_machine.py", "firmware/main.py"}


def layer_of_module(name: str) -> str | None:
    """The layer a dotted module name belongs to, or None for the standard library and others."""
    for sub in ("host_tools.cli", "host_tools.web"):
        if name == sub or name.startswith(sub + "."):
            return sub
    top = name.split(".")[0]
    return top if top in LAYERS else None


def layer_of_file(rel: str) -> str:
    if rel.startswith("firmware/"):
        return "dsc"
    parts = rel.split("/")
    if parts[0] == "host_tools" and len(parts) > 2 and parts[1] in ("cli", "web"):
        return f"host_tools.{parts[1]}"
    return parts[0]


def imports(tree: ast.AST, module: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every import in the tree; relative ones resolved against `module`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".")[: -node.level]
                base = ".".join([*pkg, base] if base else pkg)
            yield node.lineno, base
            for alias in node.names:  # `from host_tools import cli` names a module too
                yield node.lineno, f"{base}.{alias.name}"


def source_files() -> Iterator[tuple[str, str]]:
    """(path relative to the root, dotted module name) of every host and firmware source."""
    for top in ("host_tools", "provisioning", "emulator", "firmware"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            dotted = rel.removeprefix("firmware/").removesuffix(".py").replace("/", ".")
            yield rel, dotted.removesuffix(".__init__")


def violations(rel: str, module: str, text: str) -> list[str]:
    layer = layer_of_file(rel)
    found = []
    for line, name in imports(ast.parse(text, rel), module):
        if name.split(".")[0] == "machine" and rel.startswith("firmware/") \
                and rel not in MACHINE_OK:
            found.append(f"{rel}:{line} imports machine")
        target = layer_of_module(name)
        if target is None:
            continue
        if target == "host_tools.cli" and layer != "host_tools.cli" and rel not in ENTRY_POINTS:
            found.append(f"{rel}:{line} imports {name}: nothing imports the CLI")
        elif target not in ALLOWED[layer] and rel not in ENTRY_POINTS:
            found.append(f"{rel}:{line} ({layer}) imports {name} ({target})")
    return sorted(set(found))


def test_the_tree_keeps_the_layer_contract() -> None:
    found = []
    for rel, module in source_files():
        found += violations(rel, module, (ROOT / rel).read_text(encoding="utf-8"))
    assert found == []


@pytest.mark.parametrize(("rel", "text", "expected"), [
    ("provisioning/x.py", "from emulator import Emulator\n",
     "provisioning/x.py:1 (provisioning) imports emulator (emulator)"),
    ("emulator/x.py", "def f():\n    import provisioning.registry\n",
     "emulator/x.py:2 (emulator) imports provisioning.registry (provisioning)"),
    ("provisioning/x.py", "from host_tools.cli.options import when\n",
     "provisioning/x.py:1 imports host_tools.cli.options: nothing imports the CLI"),
    ("host_tools/x.py", "from host_tools import cli\n",
     "host_tools/x.py:1 imports host_tools.cli: nothing imports the CLI"),
    ("host_tools/x.py", "import provisioning\n",
     "host_tools/x.py:1 (host_tools) imports provisioning (provisioning)"),
    ("host_tools/web/app.py", "from host_tools.cli import main\n",
     "host_tools/web/app.py:1 imports host_tools.cli: nothing imports the CLI"),
    ("emulator/x.py", "from host_tools.web import app\n",
     "emulator/x.py:1 (emulator) imports host_tools.web (host_tools.web)"),
    ("firmware/dsc/x.py", "import machine\n", "firmware/dsc/x.py:1 imports machine"),
    ("firmware/dsc/x.py", "from host_tools import client\n",
     "firmware/dsc/x.py:1 (dsc) imports host_tools (host_tools)"),
])
def test_each_rule_is_checked(rel: str, text: str, expected: str) -> None:
    module = rel.removeprefix("firmware/").removesuffix(".py").replace("/", ".")
    assert expected in violations(rel, module, text)


@pytest.mark.parametrize(("rel", "text"), [
    ("host_tools/cli/cmd_x.py", "import provisioning, emulator, host_tools.web\n"),
    ("host_tools/web/app.py", "import provisioning, emulator\n"),
    ("emulator/x.py", "from host_tools.client import CardClient\nfrom dsc import ocra\n"),
    ("host_tools/__main__.py", "from host_tools.cli import main\n"),
    ("firmware/dsc/hal_machine.py", "import machine\n"),
    ("firmware/main.py", "import machine\n"),
])
def test_allowed_imports_pass(rel: str, text: str) -> None:
    module = rel.removeprefix("firmware/").removesuffix(".py").replace("/", ".")
    assert violations(rel, module, text) == []
