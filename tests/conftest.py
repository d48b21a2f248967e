"""Shared pytest set-up: project paths and the --port option (vectors: mpvm.load_vectors)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mpvm import ROOT

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


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def _private_runtime_dir(tmp_path_factory: pytest.TempPathFactory,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own XDG_RUNTIME_DIR: the emulators a test starts announce their ports
    there (host_tools.announce), and discovery never sees another test's or the user's."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("run")))
