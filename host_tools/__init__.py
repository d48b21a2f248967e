"""OpenDSC host tools: talk to one card over serial, compute responses, build and flash firmware.

The OCRA engine and the protocol codec are the firmware's own modules (`firmware/dsc`,
installed as the Python package `dsc`): the host imports them, it never re-implements them.
"""

__version__ = "0.1.0"
