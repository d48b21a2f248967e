"""Fixtures of the host tests: `make_card` gives emulated cards on both emulator runtimes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emucards import RUNTIMES, EmuCard, MakeCard


@pytest.fixture(params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_card(runtime: str) -> Iterator[MakeCard]:
    """make_card(provisioned=False, seed=1, production=False): a new emulated card on the
    runtime of this run of the test (CPython, then MicroPython); closed after the test."""
    cards: list[EmuCard] = []

    def make(provisioned: bool = False, seed: int = 1, production: bool = False) -> EmuCard:
        card = EmuCard(runtime, provisioned=provisioned, seed=seed, production=production)
        cards.append(card)
        return card

    yield make
    for card in cards:
        card.close()
