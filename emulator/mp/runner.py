# The MicroPython side of the emulator's micropython runtime: boots the firmware's App on a
# BridgeHal and answers the emulator's step requests. Run by emulator/runtime_mp.py as
#   micropython runner.py RFD WFD      (MICROPYPATH = firmware/ : emulator/mp/)
# RFD/WFD are the pipe descriptors to and from the emulator; stdout is a pipe the emulator
# reads too (the console: REPL output, the firmware's prints).
#   emulator -> runner                       runner -> emulator
#   {json}       boot: board, production,    =B when App is up (or only the VM, main false)
#                ticks, unix time, main
#   S<ticks> <unix|-> <hex serial input>     =<ms> (App.step()'s answer)
#   R            the REPL starts: mount the  =<hex of the VM's version line>
#                card's flash, cd there
#   E<s|x><hex code>  run REPL code, in the  =. done | =T<hex traceback> | =R soft reset
#                "single" (echo values) or   (its stdout went to stdout meanwhile)
#                "exec" mode
#   Q            quit                        (exits)
# A Python exception in the firmware answers !<traceback, newlines as \x1f> instead.
# REPL code shares the VM with the interrupted firmware, as on a board after Ctrl-C.
import io
import json
import os
import sys
from binascii import hexlify, unhexlify

from hal_bridge import BridgeHal, _readline

_HERE = '"' + sys.argv[0].rpartition("/")[0] + "/"  # frames of the bridge's own files


def _traceback(e):
    buf = io.StringIO()
    if hasattr(sys, "print_exception"):
        sys.print_exception(e, buf)
    else:  # CPython, for debugging the bridge
        import traceback
        traceback.print_exception(e, file=buf)
    return buf.getvalue()


def _repl_traceback(e):
    # As a board shows it: the bridge's frames (runner, VFS, HAL) are not the user's.
    lines = _traceback(e).split("\n")
    return "\n".join([ln for ln in lines if not ln.startswith("  File " + _HERE)])


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


class Machine:
    # What REPL code gets as `machine`: the unix port's module, with a board's resets.
    def __init__(self, hal, real):
        self._hal = hal
        self._real = real

    def reset(self):
        self._hal.reset()

    def soft_reset(self):
        sys.exit(0)

    def __getattr__(self, name):
        return getattr(self._real, name)


def _repl_start(hal, cfg, repl):
    if not repl:
        from cardvfs import CardVfs

        path = cfg["board"]["flash"]["dir"]
        # Mounted at the path's first part ("/flash" for "/flash/dsc"), so the parents exist
        # in the VM as they do on the board (the emulator answers for them too).
        top = "/" + path.strip("/").split("/")[0]
        os.mount(CardVfs(hal, top), top)
        os.chdir(path)
        import machine
        sys.modules["machine"] = Machine(hal, machine)
        repl["__name__"] = "__main__"
    version = "MicroPython v%d.%d.%d" % sys.implementation.version[:3]
    return "=" + hexlify(version.encode()).decode()


def _repl_exec(hal, repl, line):
    mode = "single" if line[1:2] == b"s" else "exec"
    try:
        exec(compile(unhexlify(line[2:]).decode(), "<stdin>", mode), repl)
    except SystemExit:
        if hal.resetting:
            raise  # machine.reset(): the emulator resets the board
        return "=R"
    except BaseException as e:  # KeyboardInterrupt too: it is REPL output
        return "=T" + hexlify(_repl_traceback(e).encode()).decode()
    return "=."


def _serve(rfile, hal, app, cfg):
    repl = {}
    while True:
        line = _readline(rfile)
        if not line or line[:1] == b"Q":
            return
        line = line[:-1]
        op = line[:1]
        if op == b"E":
            _answer(hal, _repl_exec(hal, repl, line))
            continue
        if op == b"R":
            _answer(hal, _repl_start(hal, cfg, repl))
            continue
        try:
            ms = _step(hal, app, line) if app is not None else -1
        except Exception as e:
            _answer(hal, "!" + _traceback(e).replace("\n", "\x1f"))
            continue
        _answer(hal, "=%d" % ms)


def main():
    rfile = open(int(sys.argv[1]), "rb")
    wfile = open(int(sys.argv[2]), "wb")
    cfg = json.loads(rfile.readline())
    hal = BridgeHal(rfile, wfile, cfg["board"])
    hal.now = cfg["ticks"]
    hal.unix = cfg["unix"]
    app = None
    if cfg.get("main", True):
        try:
            from dsc.app import App
            app = App(hal, production=cfg["production"])
        except Exception as e:
            _answer(hal, "!" + _traceback(e).replace("\n", "\x1f"))
            return
    _answer(hal, "=B")
    _serve(rfile, hal, app, cfg)


main()
