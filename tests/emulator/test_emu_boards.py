"""Every board file boots in the emulator, wired as the file says; other keypad kinds and
display sizes work too."""

from __future__ import annotations

import copy

import pytest
from emuhelpers import login, ocra_qn_psha1

from emulator import Emulator
from host_tools.boards import board_names, load_board

KEY = bytes(range(32))


@pytest.mark.parametrize("name", board_names())
def test_every_board_boots_and_answers(name: str) -> None:
    with Emulator(board=name, key=KEY) as card:
        board = load_board(name)
        assert set(card.board.keys) >= {*"0123456789", "OK", "CLR", "POWER"}
        assert card.board.display_addr == board["display"]["addr"]
        assert login(card, "1234", "123456") == ocra_qn_psha1(KEY, 8, "123456", "1234")
        assert len(card.pixels()) == board["display"]["height"]


def test_every_board_boots_on_micropython() -> None:
    for name in board_names():
        with Emulator(board=name, runtime="micropython") as card:
            card.hold("POWER", 1500)
            assert card.screen_text() == "NOT\nPROVISIONED", name


def _variant(**changes: object) -> dict[str, object]:
    board = copy.deepcopy(load_board("pico"))
    board.update(changes)
    return board


def test_direct_buttons_4x4_keypads_and_a_128x64_display() -> None:
    keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "CLR", "0", "OK"]
    direct = _variant(name="direct", keypad={"kind": "direct", "keys": keys,
                                             "direct": {k: 30 + i for i, k in enumerate(keys)}})
    pad16 = _variant(name="pad16", keypad={
        "kind": "matrix", "rows": [2, 3, 4, 5], "cols": [6, 7, 8, 9],
        "keys": ["1", "2", "3", "A", "4", "5", "6", "B", "7", "8", "9", "C",
                 "CLR", "0", "OK", "D"]})
    big = _variant(name="big", display={"bus": 0, "sda": 16, "scl": 17, "freq": 400000,
                                        "addr": 0x3D, "width": 128, "height": 64})
    for board in (direct, pad16, big):
        with Emulator(board=board, key=KEY) as card:
            card.hold("POWER", 1500)
            if board is pad16:
                card.press("A")  # extra keys are ignored by the card
            card.type("1234")
            card.press("OK")
            card.type("123456")
            card.press("OK")
            expected = ocra_qn_psha1(KEY, 8, "123456", "1234")
            assert card.screen_text().replace(" ", "") == expected, board["name"]
