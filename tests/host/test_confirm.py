"""The one confirmation path (host_tools.confirm), with a fixed clock and random source."""

from __future__ import annotations

import random

import pytest
from dsc import ocra

from host_tools.confirm import ConfirmationFailed, confirm_seed, random_challenge
from provisioning import ocra_check, temporary

SEED = bytes(range(32))


class Recorder:
    """A card that answers TEST with the right response for `seed` and records what it got."""

    def __init__(self, suite: str, seed: bytes) -> None:
        self.suite, self.seed, self.calls = ocra.parse_suite(suite), seed, []

    def test(self, challenge: str, pin: str | None = None, *, timestamp: int | None = None,
             session_info: bytes | None = None) -> str:
        self.calls.append((challenge, pin, timestamp, session_info))
        return str(ocra.response(self.suite, self.seed, challenge,
                                 counter=0 if self.suite.counter else None, pin=pin,
                                 session=session_info, timestamp=timestamp))


@pytest.mark.parametrize("suite", ["OCRA-1:HOTP-SHA256-8:QN06-PSHA1",
                                   "OCRA-1:HOTP-SHA1-6:C-QA08-T1M",
                                   "OCRA-1:HOTP-SHA512-8:QH10-S064"])
def test_the_values_sent_follow_the_clock_and_random_source(suite: str) -> None:
    runs = []
    for _ in range(2):
        card = Recorder(suite, SEED)
        confirm_seed(card, card.suite, SEED, pin_len=6, now=lambda: 1_700_000_000,
                     rng=random.Random(2026))
        runs.append(card.calls)
    assert runs[0] == runs[1] and len(runs[0]) == 1
    challenge, pin, ts, session = runs[0][0]
    parsed = ocra.parse_suite(suite)
    assert challenge == random_challenge(parsed, random.Random(2026))
    assert (pin is not None) == bool(parsed.pin_hash) and (pin is None or len(pin) == 6)
    assert ts == (1_700_000_000 // 60 if parsed.time_step else None)
    assert (session is not None) == bool(parsed.session_len)


def test_a_card_without_the_seed_fails_the_confirmation() -> None:
    card = Recorder("OCRA-1:HOTP-SHA256-8:QN06-PSHA1", bytes(32))
    with pytest.raises(ConfirmationFailed, match="does not match the seed sent"):
        confirm_seed(card, card.suite, SEED, pin_len=4)


def test_registry_side_random_values_follow_the_source() -> None:
    info = ocra_check.suite_info("OCRA-1:HOTP-SHA256-8:QN06-PSHA1")
    assert ocra_check.new_seed(info, random.Random(1)) == random.Random(1).randbytes(32)
    assert ocra_check.new_challenge(info, random.Random(1)) == \
        ocra_check.new_challenge(info, random.Random(1))
    assert temporary.new_grid(random.Random(9)) == temporary.new_grid(random.Random(9))
    assert temporary.new_cells(0, random.Random(9)) == temporary.new_cells(0, random.Random(9))


def test_the_registry_takes_a_random_source_beside_its_clock(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from provisioning.registry import Registry

    rng = random.Random(3)
    reg, _, _ = Registry.init(str(tmp_path / "r.sqlite3"), tmp_path / "master.key",
                              clock=lambda: 1_700_000_000, random=rng)
    with reg:
        assert reg.random is rng
    with Registry.open(str(tmp_path / "r.sqlite3"), tmp_path / "master.key") as reg:
        assert isinstance(reg.random, random.SystemRandom)  # the default: the OS's CSPRNG
