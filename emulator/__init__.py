"""OpenDSC emulator: the unmodified card firmware on a virtual board.

    from emulator import Emulator
"""

from emulator.api import DEFAULT_SUITE, Emulator
from emulator.errors import EmulatorError, ExpectationFailed, FirmwareError, ScenarioError
from emulator.flashmem import PowerCut

__all__ = ["DEFAULT_SUITE", "Emulator", "EmulatorError", "ExpectationFailed", "FirmwareError",
           "PowerCut", "ScenarioError"]
