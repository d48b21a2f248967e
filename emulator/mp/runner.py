# The MicroPython side of the emulator's micropython runtime: boots the firmware's App on a
# BridgeHal and answers the emulator's step requests. Run by emulator/runtime_mp.py as
#   micropython runner.py RFD WFD      (MICROPYPATH = firmware/ : emulator/mp/)
# RFD/WFD are the pipe descriptors to and from the emulator (stdout stays the console).
#   emulator -> runner                       runner -> emulator
#   {json}       boot: board, production,    =B when App is up
#                ticks, unix time
#   S<ticks> <unix|-> <hex serial input>     =<ms> (App.step()'s answer)
#   Q            quit                        (exits)
# A Python exception in the firmware answers !<traceback, newlines as \x1f> instead.
import io
import json
import sys
from binascii import unhexlify

from hal_bridge import BridgeHal


def _traceback(e):
    buf = io.StringIO()
    if hasattr(sys, "print_exception"):
        sys.print_exception(e, buf)
    else:  # CPython, for debugging the bridge
        import traceback
        traceback.print_exception(e, file=buf)
    return buf.getvalue().replace("\n", "\x1f")


def _answer(hal, text):
    hal.flush()
    hal._out.write(text.encode() + b"\n")


def _step(hal, app, line):
    parts = line[1:].split(b" ")
    hal.now = int(parts[0])
    hal.unix = None if parts[1] == b"-" else int(parts[1])
    if len(parts) > 2 and parts[2]:
        hal.rx = unhexlify(parts[2])
    return app.step()


def main():
    rfile = open(int(sys.argv[1]), "rb")
    wfile = open(int(sys.argv[2]), "wb")
    cfg = json.loads(rfile.readline())
    hal = BridgeHal(rfile, wfile, cfg["board"])
    hal.now = cfg["ticks"]
    hal.unix = cfg["unix"]
    try:
        from dsc.app import App
        app = App(hal, production=cfg["production"])
    except Exception as e:
        _answer(hal, "!" + _traceback(e))
        return
    _answer(hal, "=B")
    while True:
        line = rfile.readline()
        if not line or line[:1] == b"Q":
            return
        line = line[:-1]
        try:
            ms = _step(hal, app, line)
        except Exception as e:
            _answer(hal, "!" + _traceback(e))
            continue
        _answer(hal, "=%d" % ms)


main()
