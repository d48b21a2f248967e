"""Wiring tables for every board, generated from the board files (`boards/*.py`).
The command line is `dsc build wiring` (host_tools/cli/cmd_build.py).
"""

from __future__ import annotations

from typing import Any

from host_tools.boards import board_names, load_board

HEADER = """# Boards and wiring

Generated from `boards/*.py` by `dsc build wiring --write docs/boards.md`
(`make docs`); do not edit by hand. Keypad rows are driven by the firmware, one at a time;
columns, direct buttons and POWER are inputs with the pull named below (a key joins its
row to its column, or its pin to ground). See docs/firmware.md for the card behaviour.
"""


# How MicroPython gets onto a blank board of each port (docs/first-flash.md has the steps).
FIRST_FLASH = {"rp2": "hold BOOTSEL while plugging it in, copy the UF2 image onto its USB drive",
               "esp32": "esptool, through the ROM boot loader",
               "stm32": "DFU mode (the DFU pin to 3V3), then dfu-util"}


def pin_name(board: dict[str, Any], pin: Any) -> str:
    """A pin as the board's silkscreen names it: GP2 on rp2, GPIO2 on esp32, X1 on stm32."""
    if isinstance(pin, str):
        return pin
    return f"GP{pin}" if board["port"] == "rp2" else f"GPIO{pin}"


def pin_rows(board: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(signal, pin, notes) for every pin the board file assigns."""
    rows: list[tuple[str, Any, str]] = []
    pad = board["keypad"]
    keys = list(pad["keys"])
    if pad["kind"] == "matrix":
        nc = len(pad["cols"])
        for i, pin in enumerate(pad["rows"]):
            on_row = " ".join(keys[i * nc:(i + 1) * nc])
            rows.append((f"keypad row {i + 1}", pin, f"output; keys {on_row}"))
        for i, pin in enumerate(pad["cols"]):
            on_col = " ".join(keys[i::nc])
            rows.append((f"keypad column {i + 1}", pin, f"input, pull-up; keys {on_col}"))
    else:
        for key in keys:
            rows.append((f"key {key}", pad["direct"][key], "input, pull-up; button to GND"))
    power = board["power"]
    low = power.get("active_low", True)
    rows.append(("POWER", power["pin"], "input, pull-up; button to GND" if low
                 else "input, pull-down; button to 3V3"))
    disp = board["display"]
    bus = f"I2C{disp['bus']}, SSD1306 {disp['width']}x{disp['height']} at 0x{disp['addr']:02X}"
    rows.append(("display SDA", disp["sda"], bus))
    rows.append(("display SCL", disp["scl"], f"{disp['freq'] // 1000} kHz"))
    serial = board["serial"]
    if serial["kind"] == "uart":
        note = f"UART{serial['id']}, {serial.get('baud', 115200)} baud"
        if serial.get("repl"):
            note += ", shared with the REPL (USB bridge)"
        rows.append(("serial TX", serial["tx"], note))
        rows.append(("serial RX", serial["rx"], note))
    if board.get("battery"):
        rows.append(("battery", board["battery"]["adc"],
                     f"ADC input, cell through a 1/{board['battery']['divider']:g} divider"))
    if board.get("vbus") is not None:
        rows.append(("VBUS sense", board["vbus"], vbus_note(board)))
    if board.get("led") is not None:
        rows.append(("LED", board["led"], "output; lit while the card is on"))
    return rows


def vbus_note(board: dict[str, Any]) -> str:
    """Where the VBUS sense comes from: the Pico and the pyboard wire it on the board; an ESP32
    dev kit needs the 5 V of its USB connector brought down to 3.3 V (never 5 V on a GPIO)."""
    if board["port"] == "esp32":
        return ("input; wire USB 5 V through a divider (e.g. 100k/100k to GND): "
                "high while USB powers the board")
    return "input, wired on the board; high while USB powers the board"


def board_section(board: dict[str, Any]) -> str:
    vid, pid = board.get("usb", [0, 0])
    serial = board["serial"]
    link = {"usb_cdc": "native USB CDC"}.get(serial["kind"], "UART")
    if serial.get("repl"):
        link = "USB-UART bridge"
    flash = board["flash"]
    lines = [
        f"## {board['title']} (`{board['name']}`)",
        "",
        f"MicroPython port `{board['port']}`, `mpy-cross -march={board['mpy_arch']}`; "
        f"USB {vid:04X}:{pid:04X} ({link}); card files in `{flash['dir']}` "
        f"({flash['fs']}); sleep when off: {board.get('sleep') or 'none'}.",
        "",
        f"A blank board gets MicroPython first ({FIRST_FLASH[board['port']]}): see "
        f"[first-flash.md](first-flash.md#{board['name']}).",
        "",
        "| signal | pin | notes |",
        "|---|---|---|",
    ]
    for signal, pin, notes in pin_rows(board):
        lines.append(f"| {signal} | {pin_name(board, pin)} | {notes} |")
    return "\n".join(lines) + "\n"


def render() -> str:
    parts = [HEADER]
    parts.extend(board_section(load_board(name)) for name in board_names())
    return "\n".join(parts)
