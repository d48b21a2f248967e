"""OpenDSC emulator: the unmodified card firmware on a virtual board.

    from emulator import Emulator
"""

from emulator.api import DEFAULT_SUITE, Emulator
from emulator.flashmem import PowerCut
from emulator.scheduler import EmulatorError, FirmwareError

__all__ = ["DEFAULT_SUITE", "Emulator", "EmulatorError", "FirmwareError", "PowerCut"]
