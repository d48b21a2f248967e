# pyright: reportUndefinedVariable=false
# ruff: noqa: F821  (include/package/module come from MicroPython's manifest loader)
# Freeze the card firmware into a MicroPython image (see the MicroPython "manifest" docs):
#   make BOARD=RPI_PICO FROZEN_MANIFEST=/path/to/opendsc/firmware/manifest.py
# then copy only board.py (and build_config.py for production) to the board's filesystem.
# fbcompat.py is left out: it stands in for the framebuf module that boards have built in.
include("$(PORT_DIR)/boards/manifest.py")
package("dsc", files=[
    "__init__.py", "app.py", "card.py", "display.py", "font.py", "hal.py", "hal_files.py",
    "hal_machine.py",
    "hashes.py", "keypad.py", "mac.py", "ocra.py", "protocol.py", "record.py", "service.py",
    "session.py", "sha.py", "ssd1306.py",
])
module("main.py")
