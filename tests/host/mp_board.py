# A MicroPython "board" for testing `dsc flash` without hardware. Runs on the MicroPython unix
# port with its stdin/stdout on the master side of a pty and its current directory as the
# board's filesystem:
#   cd BOARD_DIR && micropython mp_board.py   (stdin/stdout: the pty master)
# Until reset it speaks the REPL protocol mpremote uses (the unix port has no raw REPL on a
# serial line of its own): Ctrl-C, Ctrl-A raw REPL, Ctrl-D soft reboot or end of a command
# ("OK", output, Ctrl-D, error output, Ctrl-D, ">"), raw-paste refused ("R\x00"), Ctrl-B.
# `machine.reset()` in a command "resets the board": the shim then runs the flashed main.py
# verbatim, from this directory, with the one hardware module (dsc.hal_machine) replaced by a
# HAL for this process (pins idle, no display, the service protocol on stdin/stdout).
import os
import select
import sys
import time

sys.path[:] = ["", ".frozen"]  # only what was flashed into this directory
IN = sys.stdin.buffer
OUT = sys.stdout.buffer
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"


def w(data):
    OUT.write(data)


def run_command(code, env):
    w(b"OK")
    if b"machine.reset()" in code:
        w(b"\x04\x04>")
        return True
    try:
        exec(code, env)
    except Exception as e:
        w(b"\x04")
        sys.print_exception(e, sys.stdout)
        w(b"\x04>")
        return False
    w(b"\x04\x04>")
    return False


def repl():
    raw = False
    buf = bytearray()
    env = {}
    while True:
        c = IN.read(1)
        if not c:
            sys.exit(0)  # the pty closed
        if not raw:
            if c == b"\x01":
                raw = True
                buf = bytearray()
                w(b"\r\n" + RAW_BANNER)
            elif c == b"\x03":
                w(b"\r\n>>> ")
            continue
        if c == b"\x05":  # raw-paste request: "\x05A\x01"
            IN.read(2)
            w(b"R\x00")
        elif c == b"\x02":
            raw = False
            w(b"\r\nMicroPython (dsc flash test board)\r\n>>> ")
        elif c == b"\x03":
            buf = bytearray()
        elif c == b"\x01":
            buf = bytearray()
            w(b"\r\n" + RAW_BANNER)
        elif c == b"\x04":
            if not buf:
                env = {}
                w(b"OK\r\nsoft reboot\r\n" + RAW_BANNER)
            elif run_command(bytes(buf), env):
                return
            buf = bytearray()
        else:
            buf.extend(c)


class _Pin:
    def value(self, v=None):
        return 1  # nothing pressed (keys and POWER are active low)


def make_hal_class():
    from dsc.hal_files import FileFlashHal

    poll = select.poll()
    poll.register(sys.stdin, select.POLLIN)

    class StdioHal(FileFlashHal):
        def __init__(self, board):
            FileFlashHal.__init__(self, "cardfs")  # the card's files, in the board directory
            self.board = board

        def ticks_ms(self):
            return time.ticks_ms()

        def ticks_diff(self, a, b):
            return time.ticks_diff(a, b)

        def idle(self, ms):
            poll.poll(50 if ms < 0 else min(ms, 50))

        def pin_out(self, num, value):
            return _Pin()

        def pin_in(self, num, pull):
            return _Pin()

        def i2c_write(self, addr, buf):
            pass

        def serial_read(self):
            out = b""
            while len(out) < 256 and poll.poll(0):
                c = IN.read(1)
                if not c:
                    sys.exit(0)
                out += c
            return out

        def serial_write(self, data):
            w(data)

        def random_bytes(self, n):
            return os.urandom(n)

        def reset(self):
            sys.exit(0)

    return StdioHal


class _HalMachine:
    pass


repl()
_HalMachine.MachineHal = make_hal_class()
sys.modules["dsc.hal_machine"] = _HalMachine
with open("main.py") as f:
    src = f.read()
exec(compile(src, "main.py", "exec"), {"__name__": "__main__"})
