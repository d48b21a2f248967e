"""Shared pytest set-up: project paths, the published vectors, and the --port option."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mpvm import ROOT, VECTORS

# tests/mp/ holds plain scripts for the MicroPython VMs; tests/conformance/ runs them.
collect_ignore = ["mp"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--port", default=None,
                     help="serial port of a real card: enables the hardware tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--port"):
        return
    skip = pytest.mark.skip(reason="hardware test: give --port PORT to run it")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def port(request: pytest.FixtureRequest) -> str:
    value = request.config.getoption("--port")
    assert value, "hardware tests need --port"
    return str(value)


def load_vectors(name: str) -> Any:
    """One loader for the published vectors in ../shared/vectors (never copied into the repo)."""
    with open(VECTORS / name, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
