"""OpenDSC host tools: talk to one card over serial, compute responses, build and flash firmware.

The OCRA engine and the protocol codec are the firmware's own modules (`firmware/dsc`,
installed as the Python package `dsc`): the host imports them, it never re-implements them.
"""

from pathlib import Path

__version__ = "0.1.0"


def _check_firmware_package() -> None:
    """Refuse to run with a `dsc` package that is not the firmware's: a directory named `dsc/`
    in the current directory (or elsewhere early on sys.path) would otherwise shadow it, and
    every command would fail in odd ways (the emulated card answering "internal error")."""
    import importlib.util

    spec = importlib.util.find_spec("dsc")
    places = list(spec.submodule_search_locations or []) if spec is not None else []
    if spec is None or spec.origin is None or not any(
            Path(p, "protocol.py").is_file() and Path(p, "ocra.py").is_file() for p in places):
        where = ", ".join(places) or "nowhere"
        raise ImportError(f"the package `dsc` found ({where}) is not the OpenDSC firmware: a "
                          f"directory named dsc shadows it; run from another directory or "
                          f"rename that one (make setup installs the firmware package)")


_check_firmware_package()
