"""Board files: each parses, assigns every pin once, names the keys the card needs, and the
generated wiring page (docs/boards.md) is current."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from host_tools import wiring
from host_tools.boards import BoardError, board_names, load_board, parse_board_source

NAMES = board_names()
CARD_KEYS = {str(d) for d in range(10)} | {"OK", "CLR"}
ARCHES = {"rp2": {"armv6m", "armv7emsp"}, "esp32": {"xtensawin"}, "stm32": {"armv7emsp"}}


def test_the_promised_boards_exist() -> None:
    assert {"pico", "pico2", "esp32_devkitc", "esp32s3_devkitc", "pyboard"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_board_parses_with_its_own_name(name: str) -> None:
    board = load_board(name)
    assert board["name"] == name
    assert board["mpy_arch"] in ARCHES[board["port"]]
    vid, pid = board["usb"]
    assert 0 < vid <= 0xFFFF and 0 < pid <= 0xFFFF
    assert board["serial"]["kind"] in ("usb_cdc", "uart")
    assert board["flash"]["dir"].startswith("/") and board["flash"]["size"] > 64 * 1024
    disp = board["display"]
    assert (disp["width"], disp["height"]) in ((128, 32), (128, 64))
    assert disp["addr"] in (0x3C, 0x3D)


@pytest.mark.parametrize("name", NAMES)
def test_keys_cover_the_card(name: str) -> None:
    pad = load_board(name)["keypad"]
    keys = list(pad["keys"])
    assert len(keys) == len(set(keys))
    assert CARD_KEYS <= set(keys) and set(keys) <= CARD_KEYS | set("ABCD")
    assert "POWER" not in keys
    if pad["kind"] == "matrix":
        assert len(keys) == len(pad["rows"]) * len(pad["cols"])
    else:
        assert pad["kind"] == "direct" and set(pad["direct"]) == set(keys)


@pytest.mark.parametrize("name", NAMES)
def test_every_pin_is_used_once(name: str) -> None:
    board = load_board(name)
    pins = [pin for _signal, pin, _notes in wiring.pin_rows(board)]
    assert len(pins) == len(set(pins)), pins


def test_4x4_keypad_and_128x64_display_are_covered() -> None:
    boards = [load_board(n) for n in NAMES]
    assert any(len(b["keypad"]["keys"]) == 16 for b in boards)
    assert any(b["display"]["height"] == 64 for b in boards)
    assert any(b["keypad"]["kind"] == "direct" for b in boards)


def esp32_pins(board: dict[str, Any]) -> tuple[set[int], set[int]]:
    """(output pins, input pins) of an ESP32 board file."""
    pad = board["keypad"]
    outs = set(pad["rows"]) | {board["display"]["sda"], board["display"]["scl"]}
    if board.get("led") is not None:
        outs.add(board["led"])
    ins = set(pad["cols"]) | {board["power"]["pin"]}
    return outs, ins


def test_esp32_boards_avoid_strapping_flash_and_input_only_misuse() -> None:
    rules = {  # strapping pins, pins taken by flash/PSRAM/USB, input-only pins, RTC GPIOs
        "esp32_devkitc": ({0, 2, 5, 12, 15}, set(range(6, 12)) | {16, 17},
                          {34, 35, 36, 39}, {0, 2, 4, 12, 13, 14, 15, 25, 26, 27} | set(range(32, 40))),
        "esp32s3_devkitc": ({0, 3, 45, 46}, set(range(19, 21)) | set(range(26, 38)),
                            set(), set(range(0, 22))),
    }
    for name, (strapping, taken, input_only, rtc) in rules.items():
        board = load_board(name)
        outs, ins = esp32_pins(board)
        assert not (outs | ins) & (strapping | taken), name
        assert not outs & input_only, name
        # Input-only pins have no pull-ups: keys need the internal pull-up.
        assert not ins & input_only, name
        assert board["power"]["pin"] in rtc, "POWER must be an RTC GPIO for ext0 wake-up"


# The USB identity of the stock MicroPython build for each board's native USB (discovery finds
# cards by it): rp2 2E8A:0005; stm32 F055:9800 (pyboard, CDC + mass storage); esp32-s2/s3
# TinyUSB CDC with Espressif's VID and TinyUSB's default CDC-only PID 0x4001 (303A:1001 is the
# chip's USB-Serial/JTAG unit, seen in the ROM download mode, not MicroPython's CDC port).
STOCK_USB = {"rp2": (0x2E8A, 0x0005), "stm32": (0xF055, 0x9800), "esp32": (0x303A, 0x4001)}
USB_BRIDGES = {(0x10C4, 0xEA60), (0x1A86, 0x7523), (0x0403, 0x6001)}  # CP210x, CH340, FT232


@pytest.mark.parametrize("name", NAMES)
def test_usb_id_is_the_stock_micropython_one(name: str) -> None:
    board = load_board(name)
    usb = tuple(board["usb"])
    if board["serial"]["kind"] == "usb_cdc":
        assert usb == STOCK_USB[board["port"]], (name, [hex(v) for v in usb])
    else:
        assert usb in USB_BRIDGES, (name, [hex(v) for v in usb])


@pytest.mark.parametrize("name", NAMES)
def test_sleep_mode_can_be_woken_by_power(name: str) -> None:
    # rp2: MachineHal sleeps with a timeout and a Pin.irq handler (both needed to wake it);
    # esp32: ext0 on an RTC GPIO. stm32 standby is ended by the WKUP pin's rising edge only,
    # not by a Pin.irq: a deepsleeping pyboard would not notice POWER.
    board = load_board(name)
    allowed = {"rp2": {None, "lightsleep", "deepsleep"}, "esp32": {None, "lightsleep", "deepsleep"},
               "stm32": {None, "lightsleep"}}
    assert board.get("sleep") in allowed[board["port"]], name
    if board.get("sleep") is not None:
        assert board.get("vbus") is not None, "without VBUS sense the board never sleeps"


def test_parse_board_source_refuses_bad_files() -> None:
    with pytest.raises(BoardError, match="plain literals"):
        parse_board_source("BOARD = {'name': open('x')}")
    with pytest.raises(BoardError, match="lacks"):
        parse_board_source("BOARD = {'name': 'x'}")


def test_wiring_page_is_current(root: Path) -> None:
    page = (root / "docs" / "boards.md").read_text(encoding="utf-8")
    assert page == wiring.render(), "run `make docs` (dsc build wiring --write docs/boards.md)"


def test_wiring_page_names_pins_per_port() -> None:
    text = wiring.render()
    assert "| keypad row 1 | GP2 | output; keys 1 2 3 |" in text
    assert "| keypad column 4 | Y8 | input, pull-up; keys A B C D |" in text
    assert re.search(r"\| POWER \| GPIO27 \|", text)
    assert "| key OK | GP13 |" in text


def test_wiring_cli_writes_the_page(tmp_path: Path) -> None:
    from host_tools.cli import main

    out = tmp_path / "boards.md"
    assert main(["build", "wiring", "--write", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == wiring.render()


def test_manifest_freezes_every_firmware_module_but_fbcompat(root: Path) -> None:
    text = (root / "firmware" / "manifest.py").read_text(encoding="utf-8")
    listed = set(re.findall(r'"([a-z_0-9]+\.py)"', text))
    modules = {p.name for p in (root / "firmware" / "dsc").glob("*.py")}
    assert listed - {"main.py"} == modules - {"fbcompat.py"}
    assert 'module("main.py")' in text


def test_every_board_says_how_micropython_gets_onto_it_first(root: Path) -> None:
    # docs/boards.md links each board to its section of docs/first-flash.md (BOOTSEL and UF2,
    # esptool, DFU), which must exist for every board file.
    steps = (root / "docs" / "first-flash.md").read_text(encoding="utf-8")
    tools = {"rp2": "UF2", "esp32": "esptool", "stm32": "dfu-util"}
    for name in board_names():
        board = load_board(name)
        anchor = f'<a id="{name}"></a>'
        assert anchor in steps, f"docs/first-flash.md has no section for {name}"
        section = steps[steps.index(anchor):].split("\n## ", 2)[1]  # the heading that follows
        assert f"`{name}`" in section.splitlines()[0] and tools[board["port"]] in section
        assert f"(first-flash.md#{name})" in wiring.board_section(board)
