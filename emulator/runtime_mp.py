"""The MicroPython runtime: the firmware files run on the MicroPython unix port.

`micropython emulator/mp/runner.py` runs as a subprocess with MICROPYPATH = firmware/ and
emulator/mp/; its HAL (`emulator/mp/hal_bridge.py`) forwards each hardware call over a pipe
pair and this module answers it with an `EmuHal` on the same `VirtualBoard` the CPython
runtime would use. The virtual hardware never leaves this process. The wire format is
described at the top of hal_bridge.py.

A reset or a power cut ends the subprocess and starts a new one: the VM's RAM is gone, as
on a board. The VM's stdout is a pipe this module reads while it waits for the bridge: during
REPL code (after a Ctrl-C on the serial line, emulator/repl.py) it is the REPL's output, at
other times (the firmware's prints) it goes to a log file, with the VM's stderr, whose tail
is quoted when the firmware fails. REPL code runs in the same VM as the interrupted firmware,
with the card's flash mounted as a VFS (emulator/mp/cardvfs.py, answered by `CardFs`).
"""

from __future__ import annotations

import binascii
import contextlib
import errno
import fcntl
import json
import os
import select
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from emulator.board import VirtualBoard
from emulator.cardfs import CardFs
from emulator.errors import EmulatorError, FirmwareError
from emulator.flashmem import PowerCut
from emulator.hal import BoardReset, EmuHal
from emulator.repl import MainEnded, SoftReset
from host_tools.paths import venv_executable

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
BRIDGE = ROOT / "emulator" / "mp"
HEAP = "512K"  # generous next to an RP2040's ~190 KB: the unix port also compiles source
# Serial input handed to the VM per step, at most: as a board's USB CDC/UART receive buffer
# holds a few KB, and a burst of any size then costs steps, not one huge bridge line.
RX_CHUNK = 2048
REPL_PART = 4096  # REPL code goes to the VM in parts of this many bytes (runner.py, "e")


def micropython_exe() -> str:
    found = venv_executable("micropython")
    if not found:
        raise EmulatorError("the MicroPython unix port is not installed (run `make setup`)")
    return found


def _pin(token: bytes) -> int | str:
    text = token.decode()
    return text[1:] if text.startswith("'") else int(text)


def _name(token: bytes) -> str:
    return binascii.unhexlify(token).decode()


def _main_text(reply: bytes) -> str:
    return binascii.unhexlify(reply[1:]).decode(errors="replace")


class MicroPythonRuntime:
    name = "micropython"

    def __init__(self, board: VirtualBoard, *, production: bool = False,
                 seed: int | None = None, boot_from: str = "source") -> None:
        self.board = board
        self.production = production
        # "source": the firmware from firmware/ (fast, the default); "flash": main.py and the
        # files beside it in the card's flash, as a board boots (runner.py, _flash_boot).
        self.boot_from = boot_from
        self._ended: str | None = None  # main.py ended at boot (flash): its traceback
        self.hal = EmuHal(board, seed=seed)
        self.exe = micropython_exe()
        self.proc: subprocess.Popen[bytes] | None = None
        self._rf: IO[bytes] | None = None  # the bridge, VM -> emulator
        self._rfd = -1
        self._ofd = -1  # the VM's stdout
        self._buf = bytearray()
        self._wfd = -1
        self._log = tempfile.TemporaryFile(prefix="dsc-mp-")
        self._sink: Callable[[bytes], None] = self._to_log
        self.cardfs = CardFs(board.flash, str(board.board["flash"]["dir"]))
        self._executing = False
        self._version = ""
        self.calls = 0  # bridge messages handled: calls that wait for an answer, and queued ones
        self.round_trips = 0  # exchanges in which one side waits for the other's answer
        self._dead: str | None = None
        self._ops: dict[int, Callable[[bytes], bytes | None]] = {
            ord("o"): self._pin_out, ord("i"): self._pin_in, ord("w"): self._pin_write,
            ord("r"): self._pin_read, ord("c"): self._i2c, ord("f"): self._fs_read,
            ord("F"): self._fs_write, ord("m"): self._fs_rename, ord("x"): self._fs_remove,
            ord("z"): self._fs_free, ord("s"): self._serial_write, ord("n"): self._random,
            ord("b"): self._battery, ord("l"): self._led, ord("L"): self._lock,
            ord("v"): self._vfs, ord("V"): self._vfs_read, ord("t"): self._set_time,
            ord("k"): self._kbd_intr, ord("g"): self._read_group,
        }
        self._writing: dict[int, tuple[str, bytearray]] = {}  # the REPL's open files
        self._pins: dict[bytes, Any] = {}
        self._groups: dict[bytes, tuple[Any, bytearray]] = {}  # read_group messages, parsed

    # --- Runtime interface ---
    def boot(self, cold: bool, main: bool = True) -> None:
        """Start a fresh VM; main=False: no firmware (a soft reset in the raw REPL)."""
        self._stop_process()
        self._dead = None
        self._ended = None
        self._version = ""
        self._writing.clear()  # the VM that held them is gone
        self._groups.clear()  # and so are its pins
        self._start_process()
        cfg = {"board": self.board.board, "production": self.production,
               "ticks": self.hal.ticks_ms(), "unix": self.hal.unix_time(), "main": main,
               "boot": self.boot_from}
        self._send(json.dumps(cfg).encode() + b"\n")
        reply = self._serve()
        if reply.startswith(b"P"):
            self._ended = _main_text(reply)
        elif reply != b"B":
            raise FirmwareError(f"the firmware did not boot: {reply!r}")

    def step(self) -> int:
        if self._dead is not None:
            raise FirmwareError(self._dead)
        if self._ended is not None:
            text, self._ended = self._ended, None
            raise MainEnded(text)
        rx = self.board.serial.card_read(RX_CHUNK)
        unix = self.hal.unix_time()
        msg = b"S%d %s %s\n" % (self.hal.ticks_ms(), b"-" if unix is None else b"%d" % unix,
                                binascii.hexlify(rx))
        self.round_trips += 1
        self._send(msg)
        reply = self._serve()
        self._drain()  # the firmware's prints, to the log
        if reply.startswith(b"P"):
            raise MainEnded(_main_text(reply))
        return int(reply)

    def close(self) -> None:
        self._stop_process()
        self._log.close()

    # --- the REPL (emulator.repl.ReplRuntime) ---
    def repl_enter(self) -> str:
        if not self._version:
            self._send(b"R\n")
            self._version = binascii.unhexlify(self._serve()).decode(errors="replace")
        return self._version

    def repl_exec(self, code: str, single: bool, out: Callable[[bytes], None]) -> str | None:
        if self._dead is not None:
            raise FirmwareError(self._dead)
        self._sink = out
        self._executing = True
        try:
            raw = code.encode()
            for i in range(0, max(0, len(raw) - REPL_PART), REPL_PART):
                self._send(b"e%s\n" % binascii.hexlify(raw[i:i + REPL_PART]))
            last = raw[(max(0, len(raw) - 1) // REPL_PART) * REPL_PART:]
            self._send(b"E%s%s\n" % (b"s" if single else b"x", binascii.hexlify(last)))
            reply = self._serve()
            self._drain()  # what the code printed reached the pipe before its answer
        finally:
            self._executing = False
            self._sink = self._to_log
        if reply == b"R":
            raise SoftReset()
        if reply.startswith(b"T"):
            return binascii.unhexlify(reply[1:]).decode(errors="replace")
        return None

    def repl_interrupt(self) -> None:
        # Called from the host's thread; the VM raises KeyboardInterrupt in the running code.
        proc = self.proc
        if self._executing and proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)

    def repl_reset(self) -> None:
        self.boot(cold=False, main=False)

    # --- the subprocess ---
    def _start_process(self) -> None:
        to_mp_r, to_mp_w = os.pipe()
        from_mp_r, from_mp_w = os.pipe()
        out_r, out_w = os.pipe()
        path = f"{BRIDGE}" if self.boot_from == "flash" else f"{FIRMWARE}:{BRIDGE}"
        env = dict(os.environ, MICROPYPATH=path)
        try:
            self.proc = subprocess.Popen(
                [self.exe, "-X", f"heapsize={HEAP}", str(BRIDGE / "runner.py"),
                 str(to_mp_r), str(from_mp_w)],
                pass_fds=(to_mp_r, from_mp_w), stdin=subprocess.DEVNULL,
                stdout=out_w, stderr=self._log, env=env, cwd=str(ROOT))
        finally:
            for fd in (to_mp_r, from_mp_w, out_w):
                os.close(fd)
        self._wfd = to_mp_w
        self._rf = os.fdopen(from_mp_r, "rb")
        self._rfd = from_mp_r
        self._ofd = out_r
        os.set_blocking(out_r, False)
        with contextlib.suppress(OSError, AttributeError):  # Linux only; 64 KB elsewhere
            fcntl.fcntl(out_r, fcntl.F_SETPIPE_SZ, 1 << 20)
        self._buf.clear()

    def _stop_process(self) -> None:
        proc, self.proc = self.proc, None
        if self._wfd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._wfd)
            self._wfd = -1
        if self._rf is not None:
            self._rf.close()
            self._rf = None
        if self._ofd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._ofd)
        self._rfd = self._ofd = -1
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            proc.wait()

    def _send(self, data: bytes) -> None:
        try:
            os.write(self._wfd, data)
        except OSError:
            raise self._died() from None

    def _readline(self) -> bytes:
        """The bridge's next line (b"" when the VM is gone). While REPL code runs, the VM's
        stdout is moved meanwhile, as it comes (a VM blocked on a full stdout pipe would never
        answer); the firmware's few prints wait for the end of its step, in a 1 MB pipe. The
        bridge is strictly call and answer, so when code starts or ends to run nothing is
        left in either reader's buffer and the two can take turns on the one descriptor."""
        assert self._rf is not None
        if not self._executing or self._ofd < 0:
            return self._rf.readline()
        buf = self._buf
        while True:
            i = buf.find(b"\n")
            if i >= 0:
                line = bytes(buf[:i + 1])
                del buf[:i + 1]
                return line
            ready = select.select([self._rfd, self._ofd], [], [])[0]
            if self._ofd in ready:
                self._drain()
            if self._rfd in ready:
                chunk = os.read(self._rfd, 65536)
                if not chunk:
                    return b""
                buf += chunk

    def _to_log(self, data: bytes) -> None:
        self._log.write(data)

    def _drain(self) -> None:
        while self._ofd >= 0:
            try:
                data = os.read(self._ofd, 65536)
            except BlockingIOError:
                return
            if not data:  # the VM closed its stdout (it is exiting)
                os.close(self._ofd)
                self._ofd = -1
                return
            self._sink(data)

    def _serve(self) -> bytes:
        """Answer the bridge's calls until the step's (or boot's) result arrives."""
        if self._rf is None:
            raise self._died()
        ops = self._ops
        while True:
            line = self._readline()
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
                self.round_trips += 1
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

    def _read_group(self, a: bytes) -> bytes:
        # A whole keypad scan: the base Hal's read_group on the EmuHal's own pins, so the
        # virtual matrix sees the same row writes and column reads as pin-by-pin calls would.
        found = self._groups.get(a)
        if found is None:
            inputs, rows, cols = ([self._pins[p] for p in part.split(b",") if p]
                                  for part in a.split(b" "))
            found = (self.hal.pin_group(inputs, rows, cols),
                     bytearray(len(inputs) + len(rows) * len(cols)))
            self._groups[a] = found
        group, out = found
        self.hal.read_group(group, out)
        return bytes(48 + v for v in out)

    def _i2c(self, a: bytes) -> bytes:
        addr, *writes = a.split(b" ")
        self.hal.i2c_writes(int(addr), [binascii.unhexlify(data) for data in writes])
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

    def _set_time(self, a: bytes) -> None:
        self.hal.set_unix_time(int(a))

    def _kbd_intr(self, a: bytes) -> None:
        # main.py's micropython.kbd_intr(c) when booting from flash: Ctrl-C (3) or nothing
        self.board.repl_locked = int(a) != 3

    def _vfs(self, a: bytes) -> bytes:
        try:
            op, *args = json.loads(binascii.unhexlify(a))
            call = _VFS_OPS.get(op)
            result = call(self.cardfs, *args) if call is not None else self._vfs_file(op, *args)
        except (KeyError, TypeError, ValueError):
            raise OSError(errno.EINVAL, "bad file call") from None
        return b"+" + binascii.hexlify(json.dumps(result).encode())

    def _vfs_read(self, a: bytes) -> bytes:
        return b"+" + binascii.hexlify(self.cardfs.read(binascii.unhexlify(a).decode()))

    def _vfs_file(self, op: str, *args: Any) -> int | None:
        if op == "wopen":
            handle = max(self._writing, default=0) + 1
            self._writing[handle] = self.cardfs.open_write(*args)
            return handle
        path, data = self._writing[args[0]]
        if op == "wdata":
            data += bytes.fromhex(args[1])
        elif op in ("wflush", "wclose"):
            if op == "wclose":
                del self._writing[args[0]]
            self.cardfs.write(path, bytes(data))
        else:
            raise KeyError(op)
        return None


_VFS_OPS: dict[str, Callable[..., Any]] = {
    "ilistdir": CardFs.ilistdir, "stat": CardFs.stat, "statvfs": CardFs.statvfs,
    "remove": CardFs.remove, "rename": CardFs.rename, "mkdir": CardFs.mkdir,
    "rmdir": CardFs.rmdir,
}
