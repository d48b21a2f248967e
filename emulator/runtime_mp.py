"""The MicroPython runtime: the firmware files run on the MicroPython unix port.

`micropython emulator/mp/runner.py` runs as a subprocess with MICROPYPATH = firmware/ and
emulator/mp/; its HAL (`emulator/mp/hal_bridge.py`) forwards each hardware call over a pipe
pair and this module answers it with an `EmuHal` on the same `VirtualBoard` the CPython
runtime would use. The virtual hardware never leaves this process. The wire format is
described at the top of hal_bridge.py.

A reset or a power cut ends the subprocess and starts a new one: the VM's RAM is gone, as
on a board. The firmware's console output (print, tracebacks) goes to a log file whose tail
is quoted when the firmware fails.
"""

from __future__ import annotations

import binascii
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from emulator.board import VirtualBoard
from emulator.flash import PowerCut
from emulator.hal import BoardReset, EmuHal
from emulator.scheduler import EmulatorError, FirmwareError

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
BRIDGE = ROOT / "emulator" / "mp"
HEAP = "512K"  # generous next to an RP2040's ~190 KB: the unix port also compiles source


def micropython_exe() -> str:
    exe = Path(sys.executable).parent / "micropython"
    if exe.exists():
        return str(exe)
    import shutil

    found = shutil.which("micropython")
    if not found:
        raise EmulatorError("the MicroPython unix port is not installed (run `make setup`)")
    return found


def _pin(token: bytes) -> int | str:
    text = token.decode()
    return text[1:] if text.startswith("'") else int(text)


def _name(token: bytes) -> str:
    return binascii.unhexlify(token).decode()


class MicroPythonRuntime:
    name = "micropython"

    def __init__(self, board: VirtualBoard, *, production: bool = False,
                 seed: int | None = None) -> None:
        self.board = board
        self.production = production
        self.hal = EmuHal(board, seed=seed)
        self.exe = micropython_exe()
        self.proc: subprocess.Popen[bytes] | None = None
        self._rf: IO[bytes] | None = None
        self._wfd = -1
        self._log = tempfile.TemporaryFile(prefix="dsc-mp-")
        self.calls = 0
        self._dead: str | None = None
        self._ops: dict[int, Callable[[bytes], bytes | None]] = {
            ord("o"): self._pin_out, ord("i"): self._pin_in, ord("w"): self._pin_write,
            ord("r"): self._pin_read, ord("c"): self._i2c, ord("f"): self._fs_read,
            ord("F"): self._fs_write, ord("m"): self._fs_rename, ord("x"): self._fs_remove,
            ord("z"): self._fs_free, ord("s"): self._serial_write, ord("n"): self._random,
            ord("b"): self._battery, ord("l"): self._led, ord("L"): self._lock,
        }
        self._pins: dict[bytes, Any] = {}

    # --- Runtime interface ---
    def boot(self, cold: bool) -> None:
        self._stop_process()
        self._dead = None
        self._start_process()
        cfg = {"board": self.board.board, "production": self.production,
               "ticks": self.hal.ticks_ms(), "unix": self.hal.unix_time()}
        self._send(json.dumps(cfg).encode() + b"\n")
        reply = self._serve()
        if reply != b"B":
            raise FirmwareError(f"the firmware did not boot: {reply!r}")

    def step(self) -> int:
        if self._dead is not None:
            raise FirmwareError(self._dead)
        rx = self.board.serial.card_read()
        msg = b"S%d %d %s\n" % (self.hal.ticks_ms(), self.hal.unix_time(), binascii.hexlify(rx))
        self._send(msg)
        return int(self._serve())

    def close(self) -> None:
        self._stop_process()
        self._log.close()

    # --- the subprocess ---
    def _start_process(self) -> None:
        to_mp_r, to_mp_w = os.pipe()
        from_mp_r, from_mp_w = os.pipe()
        env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:{BRIDGE}")
        try:
            self.proc = subprocess.Popen(
                [self.exe, "-X", f"heapsize={HEAP}", str(BRIDGE / "runner.py"),
                 str(to_mp_r), str(from_mp_w)],
                pass_fds=(to_mp_r, from_mp_w), stdin=subprocess.DEVNULL,
                stdout=self._log, stderr=self._log, env=env, cwd=str(ROOT))
        finally:
            os.close(to_mp_r)
            os.close(from_mp_w)
        self._wfd = to_mp_w
        self._rf = os.fdopen(from_mp_r, "rb")

    def _stop_process(self) -> None:
        proc, self.proc = self.proc, None
        if self._wfd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._wfd)
            self._wfd = -1
        if self._rf is not None:
            self._rf.close()
            self._rf = None
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            proc.wait()

    def _send(self, data: bytes) -> None:
        try:
            os.write(self._wfd, data)
        except OSError:
            raise self._died() from None

    def _serve(self) -> bytes:
        """Answer the bridge's calls until the step's (or boot's) result arrives."""
        assert self._rf is not None
        rf, ops = self._rf, self._ops
        while True:
            line = rf.readline()
            if not line:
                raise self._died()
            op = line[0]
            if op == 61:  # "=": the result
                return line[1:-1]
            if op == 33:  # "!": the firmware raised
                text = line[1:-1].decode(errors="replace").replace("\x1f", "\n")
                self._dead = f"the firmware raised in MicroPython:\n{text}"
                raise FirmwareError(self._dead)
            if op == 88:  # "X": hal.reset()
                self._stop_process()
                raise BoardReset()
            handler = ops.get(op)
            if handler is None:
                raise FirmwareError(f"bridge protocol error: {line[:40]!r}")
            self.calls += 1
            try:
                reply = handler(line[1:-1])
            except PowerCut:
                self._stop_process()  # no power, no VM
                raise
            except OSError as e:
                reply = b"E%d" % (e.errno or 5)
            if reply is not None:
                self._send(reply + b"\n")

    def _died(self) -> FirmwareError:
        code = self.proc.poll() if self.proc is not None else None
        self._log.seek(0)
        tail = self._log.read()[-2000:].decode(errors="replace")
        self._stop_process()
        self._dead = f"MicroPython exited (status {code}):\n{tail}"
        return FirmwareError(self._dead)

    # --- the calls (argument bytes -> answer bytes, None: no answer) ---
    def _pin_out(self, a: bytes) -> None:
        pid, v = a.split(b" ")
        self._pins[pid] = self.hal.pin_out(_pin(pid), int(v))

    def _pin_in(self, a: bytes) -> None:
        pid, pull = a.split(b" ")
        self._pins[pid] = self.hal.pin_in(_pin(pid), int(pull))

    def _pin_write(self, a: bytes) -> None:
        pid, v = a.split(b" ")
        self._pins[pid].value(int(v))

    def _pin_read(self, a: bytes) -> bytes:
        return b"1" if self._pins[a].value() else b"0"

    def _i2c(self, a: bytes) -> bytes:
        addr, data = a.split(b" ")
        self.hal.i2c_write(int(addr), binascii.unhexlify(data))
        return b"."

    def _fs_read(self, a: bytes) -> bytes:
        data = self.hal.fs_read(_name(a))
        return b"-" if data is None else b"+" + binascii.hexlify(data)

    def _fs_write(self, a: bytes) -> bytes:
        name, data = a.split(b" ")
        self.hal.fs_write(_name(name), binascii.unhexlify(data))
        return b"."

    def _fs_rename(self, a: bytes) -> bytes:
        src, dst = a.split(b" ")
        self.hal.fs_rename(_name(src), _name(dst))
        return b"."

    def _fs_remove(self, a: bytes) -> bytes:
        self.hal.fs_remove(_name(a))
        return b"."

    def _fs_free(self, a: bytes) -> bytes:
        return b"%d" % self.hal.fs_free()

    def _serial_write(self, a: bytes) -> None:
        self.hal.serial_write(binascii.unhexlify(a))

    def _random(self, a: bytes) -> bytes:
        return binascii.hexlify(self.hal.random_bytes(int(a)))

    def _battery(self, a: bytes) -> bytes:
        mv = self.hal.battery_mv()
        return b"-" if mv is None else b"%d" % mv

    def _led(self, a: bytes) -> None:
        self.hal.led(a == b"1")

    def _lock(self, a: bytes) -> None:
        self.hal.lock_repl()
