"""Emulated cards as pytest fixtures, for this project and any other project's CI.

    pytest -p emulator.pytest_plugin [--dsc-board pico] [--dsc-runtime micropython]

    def test_login(dsc_card, dsc_card_key):      # a provisioned card (random key)
        dsc_card.hold("POWER", 1500)
        assert dsc_card.screen_text() == "PIN>"

    def test_blank(dsc_emulator):                # a factory: dsc_emulator(key=..., suite=...)
        card = dsc_emulator()

Every card a test made is closed after it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from emulator.api import DEFAULT_SUITE, RUNTIMES, Emulator


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dsc-emulator", "OpenDSC emulated cards")
    group.addoption("--dsc-board", default="pico", help="board of the emulated cards")
    group.addoption("--dsc-runtime", default="cpython", choices=RUNTIMES,
                    help="firmware runtime of the emulated cards")


@pytest.fixture
def dsc_emulator(request: pytest.FixtureRequest) -> Iterator[Callable[..., Emulator]]:
    """Make emulated cards: keyword arguments as for emulator.Emulator."""
    made: list[Emulator] = []
    defaults = {"board": request.config.getoption("--dsc-board"),
                "runtime": request.config.getoption("--dsc-runtime")}

    def make(**kwargs: Any) -> Emulator:
        card = Emulator(**{**defaults, **kwargs})
        made.append(card)
        return card

    yield make
    for card in made:
        card.close()


@pytest.fixture
def dsc_card_key() -> bytes:
    """The OCRA key `dsc_card` is provisioned with (override the fixture to choose one)."""
    return os.urandom(32)


@pytest.fixture
def dsc_card_suite() -> str:
    return DEFAULT_SUITE


@pytest.fixture
def dsc_card(dsc_emulator: Callable[..., Emulator], dsc_card_key: bytes,
             dsc_card_suite: str) -> Emulator:
    """A card provisioned through its service protocol; its admin key is `.admin_key`."""
    return dsc_emulator(key=dsc_card_key, suite=dsc_card_suite)
