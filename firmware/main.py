# Boot entry on a board: MicroPython runs main.py after boot.py.
# board.py is the board file (boards/<name>.py) copied onto the board; build_config.py exists
# only in a production build (`dsc flash --production` writes PRODUCTION = True into it).
import board  # pyright: ignore[reportMissingImports]  (the board file, copied as board.py)
from dsc.app import App
from dsc.hal_machine import MachineHal

try:
    import build_config  # pyright: ignore[reportMissingImports]
    production = bool(getattr(build_config, "PRODUCTION", False))
except ImportError:
    production = False

App(MachineHal(board.BOARD), production).run()
