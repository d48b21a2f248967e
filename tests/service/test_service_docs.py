"""The OpenAPI document: generated, served, checked in; the layer rule of host_tools.web."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from apikit import Api

from host_tools.web import openapi
from host_tools.web.problems import CATALOGUE
from host_tools.web.routes import ENDPOINTS

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_openapi_matches_the_code() -> None:
    checked_in = (ROOT / "docs" / "openapi.json").read_text()
    assert checked_in == openapi.render(), (
        "docs/openapi.json drifted from the code: regenerate it with "
        "`.venv/bin/python -m host_tools.web.openapi > docs/openapi.json`")


def test_the_served_document_is_the_generated_one(api: Api) -> None:
    served = api.client.get("/openapi.json").json()
    assert served == json.loads(openapi.render())
    for ep in ENDPOINTS:
        assert ep.method.lower() in served["paths"][ep.path]


def test_docs_service_md_names_every_endpoint_and_reason() -> None:
    text = (ROOT / "docs" / "service.md").read_text()
    for ep in ENDPOINTS:
        assert f"{ep.method} {ep.path}" in text, ep.path
    for reason in CATALOGUE:
        assert f"`{reason}`" in text, reason


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_layers_provisioning_knows_no_http_and_only_the_cli_imports_the_web_app() -> None:
    for path in sorted((ROOT / "provisioning").rglob("*.py")):
        bad = {m for m in _imports(path) if m.split(".")[0] in ("starlette", "uvicorn", "httpx")
               or m.startswith("host_tools.web")}
        assert not bad, f"{path.name} imports {bad}"
    importers = set()
    for top in ("host_tools", "emulator", "provisioning", "firmware"):
        for path in (ROOT / top).rglob("*.py"):
            if "web" in path.relative_to(ROOT).parts:
                continue
            if any(m.startswith("host_tools.web") for m in _imports(path)):
                importers.add(path.relative_to(ROOT).as_posix())
    assert importers <= {"host_tools/cli/cmd_serve.py"}
