"""The emulator's exceptions: one root, `EmulatorError`; subclasses say when they are raised.

They carry facts, never an exit status: the `dsc` command (host_tools/cli/exits.py) decides
how each is reported. Control-flow signals (`PowerCut`, `BoardReset`, `SoftReset`) are
BaseExceptions of their own modules, not errors.
"""

from __future__ import annotations


class EmulatorError(Exception):
    """The emulator cannot do what was asked (bad key, dead firmware, ...)."""


class FirmwareError(EmulatorError):
    """The firmware raised an exception out of App.step() (its traceback is the message)."""


class ScenarioError(EmulatorError):
    """A scenario line is malformed (unknown step or key, bad number)."""


class ExpectationFailed(EmulatorError):
    """A scenario step's expectation did not hold (the message names the line)."""
