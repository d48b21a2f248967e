"""Hardware tier: a real card on --port (skipped without one).

    .venv/bin/pytest tests/hardware --port /dev/ttyACM0
    DSC_HW_SEED_FILE=seed.hex DSC_HW_ADMIN_KEY_FILE=admin.hex .venv/bin/pytest tests/hardware --port ...

Read-only unless the card's admin key is given: then TEST confirms the seed (also given, as the
card must not reveal it) without changing the card. tests/emulator/test_emu_hardware_tier.py
runs this file against an emulated card's pty, so it is exercised in every CI run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from dsc import VERSION, ocra

from host_tools.boards import board_names
from host_tools.client import AuthenticationRequired, CardClient, CardInfo
from host_tools.secrets_input import read_hex_secret
from host_tools.transport import open_transport

pytestmark = pytest.mark.hardware


@pytest.fixture
def client(port: str) -> Iterator[CardClient]:
    with CardClient(open_transport(port), timeout=3.0) as c:
        yield c


def _given_key(env: str) -> bytes:
    path = os.environ.get(env)
    if not path:
        pytest.skip(f"set {env} to a hex key file to run this test")
    return read_hex_secret(file=path, what=env, min_bytes=16, max_bytes=64)


def test_info_names_a_known_board_and_this_firmware(client: CardClient) -> None:
    info = client.info()
    assert info.board in board_names()
    assert info.firmware == VERSION
    assert info.provisioned == (info.serial_number is not None)


def test_garbage_on_the_line_changes_nothing(client: CardClient, port: str) -> None:
    before = client.info()
    noise = bytes(range(256)) + b"~~~not base64~\n~QUJD\n" + secrets.token_bytes(300)
    if not before.locked:
        # A development card gives Ctrl-A..Ctrl-E to the REPL (Ctrl-C stops the firmware), as
        # any MicroPython board does; only a LOCKed card must shrug off every byte.
        noise = bytes(b for b in noise if not 1 <= b <= 5)
    with open_transport(port) as raw:
        raw.send(noise)
        raw.receive(0.3)
    after = client.info()
    assert _stable(after) == _stable(before)


def test_admin_commands_need_auth(client: CardClient) -> None:
    before = client.info()
    if not before.provisioned:
        pytest.skip("the card is blank: a blank card takes PROVISION without AUTH by design")
    with pytest.raises(AuthenticationRequired):
        client.wipe()
    assert _stable(client.info()) == _stable(before)


def test_response_matches_the_host_computation(client: CardClient) -> None:
    info = client.info()
    if not info.provisioned or info.suite is None:
        pytest.skip("the card is blank")
    seed = _given_key("DSC_HW_SEED_FILE")
    client.authenticate(_given_key("DSC_HW_ADMIN_KEY_FILE"))
    suite = ocra.parse_suite(info.suite)
    challenge = "".join(secrets.choice("0123456789") for _ in range(suite.q_len))
    pin = "".join(secrets.choice("0123456789") for _ in range(4)) if suite.pin_hash else None
    got = client.test(challenge, pin)
    assert got == ocra.response(suite, seed, challenge, pin=pin,
                                counter=0 if suite.counter else None)


def _stable(info: CardInfo) -> tuple[object, ...]:
    # Battery and free flash move on their own; identity and state must not.
    return (info.serial_number, info.firmware, info.board, info.suite, info.provisioned,
            info.locked, info.record_error)
