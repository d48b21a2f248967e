# Boot entry on a board: MicroPython runs main.py after boot.py.
# board.py is the board file (boards/<name>.py) copied onto the board; build_config.py exists
# only in a production build (`dsc flash --production` writes PRODUCTION = True into it).
#
# Ctrl-C is switched off before anything else, and on again only once the App has read the
# card record and knows that this is a development card that is not LOCKed: otherwise a
# Ctrl-C sent while a production or LOCKed card boots would stop main.py and reach the REPL.
import micropython

micropython.kbd_intr(-1)

import time  # noqa: E402

import board  # noqa: E402  # pyright: ignore[reportMissingImports]  (the board file, copied as board.py)
from dsc.app import App  # noqa: E402
from dsc.hal_machine import MachineHal  # noqa: E402

try:
    import build_config  # pyright: ignore[reportMissingImports]
    production = bool(getattr(build_config, "PRODUCTION", False))
except ImportError:
    production = False


def start():
    app = App(MachineHal(board.BOARD), production)
    if not app.production:
        micropython.kbd_intr(3)  # development: Ctrl-C stops App.run() and reaches the REPL
    app.run()


if production:
    while True:  # App.run() never returns here; a failure to start (a bus, the flash) retries
        try:
            start()
        except Exception:
            time.sleep_ms(1000)
else:
    start()
