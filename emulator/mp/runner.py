# The MicroPython side of the emulator's micropython runtime: boots the firmware's App on a
# BridgeHal and answers the emulator's step requests. Run by emulator/runtime_mp.py as
#   micropython runner.py RFD WFD      (MICROPYPATH = firmware/ : emulator/mp/, or only
#                                       emulator/mp/ when the card boots from its flash)
# RFD/WFD are the pipe descriptors to and from the emulator; stdout is a pipe the emulator
# reads too (the console: REPL output, the firmware's prints).
#   emulator -> runner                       runner -> emulator
#   {json}       boot: board, production,    =B when App is up (or only the VM, main false)
#                ticks, unix time, main
#   S<ticks> <unix|-> <hex serial input>     =<ms> (App.step()'s answer)
#   R            the REPL starts: mount the  =<hex of the VM's version line>
#                card's flash, cd there
#   e<hex part>  REPL code ahead of its E     (no answer; big code comes in 4 KB parts)
#   E<s|x><hex code>  run REPL code, in the  =. done | =T<hex traceback> | =R soft reset
#                "single" (echo values) or   (its stdout went to stdout meanwhile)
#                "exec" mode
#   Q            quit                        (exits)
# Booting from the card's flash (cfg boot "flash", see _flash_boot): main.py from the flash
# runs as on a board; its App.run() answers each S from hal.idle(), and when main.py ends (an
# exception, or it returns) the answer to the boot or the pending S is =P<hex traceback>: the
# board then sits at its REPL.
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
    return app.step() if app is not None else None


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


def _mount(hal, cfg, repl):
    # The card's flash as the VM's filesystem there; REPL code gets the board's `machine`.
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


def _repl_start(hal, cfg, repl):
    if not repl:
        _mount(hal, cfg, repl)
    version = "MicroPython v%d.%d.%d" % sys.implementation.version[:3]
    return "=" + hexlify(version.encode()).decode()


_PARTS = []  # REPL code sent ahead in "e" lines, joined by the "E" that ends it


def _repl_part(line):
    # Each part is decoded as it comes, so no one bridge line needs more than a few KB of heap;
    # code too big for the VM then fails as a MemoryError at the REPL, as on a board.
    try:
        _PARTS.append(unhexlify(line[1:]))
    except MemoryError:
        _PARTS.append(None)


def _repl_exec(hal, repl, line):
    mode = "single" if line[1:2] == b"s" else "exec"
    try:
        parts, _PARTS[:] = _PARTS[:], []
        if None in parts:
            raise MemoryError("REPL code too big for the heap")
        parts.append(unhexlify(line[2:]))
        code = b"".join(parts).decode()
        parts = None
        exec(compile(code, "<stdin>", mode), repl)
    except SystemExit:
        if hal.resetting:
            raise  # machine.reset(): the emulator resets the board
        return "=R"
    except BaseException as e:  # KeyboardInterrupt too: it is REPL output
        return "=T" + hexlify(_repl_traceback(e).encode()).decode()
    return "=."


def _serve(rfile, hal, app, cfg, repl, line=None):
    while True:
        if line is None:
            line = _readline(rfile)
            if not line or line[:1] == b"Q":
                return
            line = line[:-1]
        op, req, line = line[:1], line, None
        if op == b"e":
            _repl_part(req)
            continue
        if op == b"E":
            _answer(hal, _repl_exec(hal, repl, req))
            continue
        if op == b"R":
            _answer(hal, _repl_start(hal, cfg, repl))
            continue
        try:
            ms = _step(hal, app, req) if app is not None else -1
        except Exception as e:
            _answer(hal, "!" + _traceback(e).replace("\n", "\x1f"))
            continue
        _answer(hal, "=%d" % ms)


class _Quit(BaseException):
    pass  # the emulator said Q while main.py ran


class _Shim:
    # A module as main.py on a board sees it: some names ours, the rest the unix port's.
    def __init__(self, real, **names):
        self._real = real
        for k in names:
            setattr(self, k, names[k])

    def __getattr__(self, name):
        return getattr(self._real, name)


def _flash_boot(rfile, hal, cfg, repl):
    """Boot as a board does: run main.py from the card's flash, which imports what `dsc flash`
    put beside it (board.py, dsc/*.mpy). The emulator stands in for the board layer only:
    `dsc.hal_machine.MachineHal(board)` is this BridgeHal, `time.sleep_ms` and App.run()'s
    hal.idle() wait in virtual time (each answers the step the emulator asked for and takes the
    next), `micropython.kbd_intr` switches the emulated line's Ctrl-C. Returns the request that
    interrupted main.py (REPL input after a Ctrl-C), else None once main.py has ended."""
    import time

    import micropython

    _mount(hal, cfg, repl)
    flash_dir = cfg["board"]["flash"]["dir"]
    sys.path[:] = [flash_dir, flash_dir + "/lib"]  # a board's "" and "/lib", from its root
    run = {"booted": False, "on": False, "pending": None}  # on: main.py runs

    def idle(ms):
        if not run["on"]:  # REPL code after main.py: the VM's own clock
            time.sleep_ms(max(0, ms))
            return
        _answer(hal, "=%d" % ms if run["booted"] else "=B")
        run["booted"] = True
        line = _readline(rfile)
        if not line or line[:1] == b"Q":
            raise _Quit()
        if line[:1] != b"S":  # Ctrl-C on the line: the REPL's first request
            run["pending"] = line[:-1]
            raise KeyboardInterrupt()
        _step(hal, None, line[:-1])

    def sleep_ms(ms):
        idle(int(ms))

    def kbd_intr(c):
        hal._queue.append(b"k" + str(c).encode() + b"\n")

    hal.idle = idle
    sys.modules["time"] = _Shim(time, sleep_ms=sleep_ms, sleep=lambda s: sleep_ms(s * 1000),
                                ticks_ms=hal.ticks_ms, ticks_diff=hal.ticks_diff,
                                time=lambda: hal.unix if hal.unix is not None else 0)
    sys.modules["micropython"] = _Shim(micropython, kbd_intr=kbd_intr)
    sys.modules["dsc.hal_machine"] = _Shim(None, MachineHal=lambda board: _as_board(hal, board))
    if not cfg.get("main", True):
        return None
    text = ""
    try:
        try:
            src = open(flash_dir + "/main.py").read()
        except OSError:
            src = None  # no main.py: a board goes straight to its REPL
        if src is not None:
            run["on"] = True
            exec(compile(src, "main.py", "exec"), {"__name__": "__main__"})
    except _Quit:
        raise
    except SystemExit:
        if hal.resetting:
            raise  # machine.reset(): the emulator starts a new VM
    except KeyboardInterrupt as e:
        if run["pending"] is not None:
            run["on"] = False
            return run["pending"]
        text = _repl_traceback(e)
    except BaseException as e:
        text = _repl_traceback(e)
    run["on"] = False
    _answer(hal, "=P" + hexlify(text.encode()).decode())
    return None


def _as_board(hal, board):
    hal.board = board  # the flashed board.py's BOARD is what the firmware believes it runs on
    return hal


def main():
    rfile = open(int(sys.argv[1]), "rb")
    wfile = open(int(sys.argv[2]), "wb")
    cfg = json.loads(rfile.readline())
    hal = BridgeHal(rfile, wfile, cfg["board"])
    hal.now = cfg["ticks"]
    hal.unix = cfg["unix"]
    repl = {}
    if cfg.get("boot") == "flash":
        try:
            line = _flash_boot(rfile, hal, cfg, repl)
        except _Quit:
            return
        if not cfg.get("main", True):
            _answer(hal, "=B")
        _serve(rfile, hal, None, cfg, repl, line)
        return
    app = None
    if cfg.get("main", True):
        try:
            from dsc.app import App
            app = App(hal, production=cfg["production"])
        except Exception as e:
            _answer(hal, "!" + _traceback(e).replace("\n", "\x1f"))
            return
    _answer(hal, "=B")
    _serve(rfile, hal, app, cfg, repl)


main()
