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


def _sealed_values(tmp_path, name: str, key: tuple[str, bytes], rng: random.Random | None):  # type: ignore[no-untyped-def]
    """Every sealed value of a fresh registry with one card, under `key`, drawing from `rng`."""
    from provisioning.keys import write_key_file
    from provisioning.registry import Registry

    key_file = tmp_path / f"{name}.key"
    write_key_file(key_file, [key])
    reg, _, _ = Registry.init(str(tmp_path / f"{name}.sqlite3"), key_file,
                              clock=lambda: 1_700_000_000, operator="tester", random=rng)
    with reg:
        serial = reg.allocate_serial("OCRA-1:HOTP-SHA256-8:QN06-PSHA1")
        reg.confirm_provisioned(serial, seed=SEED, admin_key=b"A" * 32,
                                suite="OCRA-1:HOTP-SHA256-8:QN06-PSHA1")
        row = reg.db.one("SELECT seed_enc, admin_key_enc FROM cards WHERE serial_number = ?",
                         (serial,))
        check = reg.db.one("SELECT value FROM meta WHERE name = 'key_check'")
        assert row is not None and check is not None
        assert reg.unseal(row["seed_enc"], "cards", "seed_enc", serial) == SEED
        return [bytes(row["seed_enc"]), bytes(row["admin_key_enc"]), bytes.fromhex(check["value"])]


def test_sealed_values_follow_the_registry_random_source(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = ("0a1b2c3d", bytes(range(32)))
    first = _sealed_values(tmp_path, "a", key, random.Random(11))
    second = _sealed_values(tmp_path, "b", key, random.Random(11))
    assert first == second  # same key, seed and source: the very same bytes
    # ... and the nonce is what the source gave: after the key id, 12 bytes of it.
    nonces = [v[8:20] for v in first]
    assert len(set(nonces)) == 3
    other = _sealed_values(tmp_path, "c", key, random.Random(12))
    assert all(x != y for x, y in zip(first, other, strict=True))


def test_a_default_registry_seals_with_fresh_nonces_from_the_os(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from provisioning.keys import Sealer

    key = ("0a1b2c3d", bytes(range(32)))
    first = _sealed_values(tmp_path, "a", key, None)
    second = _sealed_values(tmp_path, "b", key, None)
    assert all(x != y for x, y in zip(first, second, strict=True))
    sealer = Sealer([key])
    assert isinstance(sealer.random, random.SystemRandom)
    one, two = sealer.seal(b"same", "t.c:x"), sealer.seal(b"same", "t.c:x")
    assert one != two and one[8:20] != two[8:20]
    assert sealer.open(one, "t.c:x") == sealer.open(two, "t.c:x") == b"same"


def test_a_seeded_sealer_repeats_its_nonces_which_is_why_it_is_for_tests_only() -> None:
    from provisioning.keys import Sealer

    key = ("0a1b2c3d", bytes(range(32)))
    a = Sealer([key], random=random.Random(5)).seal(b"x", "t.c:1")
    b = Sealer([key], random=random.Random(5)).seal(b"x", "t.c:1")
    assert a == b and a[8:20] == random.Random(5).randbytes(12)
