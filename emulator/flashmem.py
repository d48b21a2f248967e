"""The board's filesystem: an in-memory dict of files, with power-cut injection.

Names are relative to the card's directory (`board["flash"]["dir"]`), as the HAL's `fs_*`
calls use them. The model is deliberately pessimistic about power cuts: a file write is
*not* atomic; a cut leaves exactly the bytes written before it (a real littlefs would
usually keep the old file, FAT would not). Only `rename` is atomic, as littlefs, FAT and
POSIX promise. If the firmware survives this model, it survives the real ones.

Two rename semantics, after the board's `flash.fs`: littlefs (and POSIX) rename over an
existing file in one atomic step; FAT (`fat=True`, the pyboard) refuses that with EEXIST, so the
HAL removes the old file first and renames after (`emulator.hal.EmuHal.fs_rename`, as
`dsc.hal_files` does on a board), and a power cut can fall between the two.

Names may hold subdirectories (`lib/x.py`, created with `mkdir`), as the REPL's `os.mkdir`
makes them; the firmware itself uses plain names. A directory takes a block, like a file.

Cut points are counted in *events*, each one unit the power can fail before:
  - a write is 1 event for create/truncate, then 1 event per byte;
  - a rename, a remove, a mkdir and an rmdir are 1 event each.
`cut_before(n)` arms a cut that raises `PowerCut` just before event number n (counting from
the moment of arming, starting at 0). A cut before a write's first event leaves the file as
it was; before byte k it holds the first k bytes. `events` counts every event since the
flash was made, so a test runs an operation once to count its events, then replays it with a
cut at each of them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from emulator.errors import EmulatorError

BLOCK = 4096  # space accounting: files occupy whole blocks, like littlefs/FAT


class PowerCut(BaseException):  # not an error: the board lost its power
    """The power failed during a flash operation (injected by `Flash.cut_before`).

    A BaseException so that firmware code catching `Exception` cannot swallow it.
    """


class FlashMemError(EmulatorError, OSError):
    """A flash operation the real filesystem would refuse (bad name, missing file, full)."""


@dataclass
class FlashStats:
    writes: int = 0
    renames: int = 0
    removes: int = 0
    bytes_written: int = 0


def _check_name(name: str) -> None:
    if "\\" in name or "\0" in name or any(p in ("", ".", "..") for p in name.split("/")):
        raise FlashMemError(22, f"invalid file name {name!r}")  # EINVAL


def _parent(name: str) -> str:
    return name.rpartition("/")[0]


class Flash:
    """Files of the card's directory, with counters and armed power cuts."""

    def __init__(self, size: int = 1 << 20, state_dir: str | Path | None = None, *,
                 fat: bool = False) -> None:
        self.size = size
        self.fat = fat
        self.files: dict[str, bytes] = {}
        self.dirs: set[str] = set()  # subdirectories ("lib", "lib/sub"); "" is the card's own
        self.stats = FlashStats()
        self.events = 0
        self._cut_at: int | None = None
        # With a state directory every change is mirrored there at once (a killed emulator
        # loses nothing); a cut write is mirrored as cut.
        self.state_dir = Path(state_dir) if state_dir is not None else None
        if self.state_dir is not None:
            self.load(self.state_dir)

    # --- power-cut injection ---
    def cut_before(self, n: int) -> None:
        """Arm a power cut just before the n-th flash event from now (0 = the next one)."""
        if n < 0:
            raise ValueError("a cut point is a non-negative event number")
        self._cut_at = self.events + n

    def disarm(self) -> None:
        self._cut_at = None

    @property
    def armed(self) -> bool:
        return self._cut_at is not None

    def _event(self) -> None:
        if self._cut_at is not None and self.events >= self._cut_at:
            self._cut_at = None  # one cut per arming: the board reboots with power back
            raise PowerCut(f"power cut before flash event {self.events}")
        self.events += 1

    # --- the HAL's operations ---
    def read(self, name: str) -> bytes | None:
        _check_name(name)
        return self.files.get(name)

    def write(self, name: str, data: bytes | bytearray | memoryview) -> None:
        _check_name(name)
        self._check_parent(name)
        if name in self.dirs:
            raise FlashMemError(21, f"{name!r} is a directory")  # EISDIR
        try:
            self._write(name, data)
        finally:
            self._mirror(name)

    def _write(self, name: str, data: bytes | bytearray | memoryview) -> None:
        data = bytes(data)
        old = _blocks(len(self.files[name])) if name in self.files else 0
        if self.used() - old + _blocks(len(data)) > self.size:
            raise FlashMemError(28, "no space left on the flash")  # ENOSPC
        self._event()
        self.stats.writes += 1
        room = len(data) if self._cut_at is None else self._cut_at - self.events
        if room < len(data):  # the cut falls inside this write: keep what came before it
            self.files[name] = data[:room]
            self.events += room
            self.stats.bytes_written += room
            self._event()
        self.files[name] = data
        self.events += len(data)
        self.stats.bytes_written += len(data)

    def rename(self, src: str, dst: str) -> None:
        _check_name(src)
        _check_name(dst)
        if src in self.dirs:
            self._rename_dir(src, dst)
            return
        if src not in self.files:
            raise FlashMemError(2, f"no file {src!r}")  # ENOENT
        self._check_parent(dst)
        if dst in self.dirs:
            raise FlashMemError(21, f"{dst!r} is a directory")  # EISDIR
        if self.fat and dst in self.files and dst != src:
            raise FlashMemError(17, f"{dst!r} exists")  # EEXIST: FAT renames onto no file
        self._event()
        self.stats.renames += 1
        self.files[dst] = self.files.pop(src)
        self._mirror(src, dst)

    def _rename_dir(self, src: str, dst: str) -> None:
        self._check_parent(dst)
        if dst in self.files or dst in self.dirs or dst.startswith(src + "/"):
            raise FlashMemError(22, f"cannot move {src!r} to {dst!r}")  # EINVAL
        self._event()
        self.stats.renames += 1

        def moved(name: str) -> str:
            return dst + name[len(src):] if name == src or name.startswith(src + "/") else name

        old = sorted(n for n in self.files if moved(n) != n)
        self.dirs = {moved(d) for d in self.dirs}
        self.files = {moved(n): d for n, d in self.files.items()}
        self._mirror(*old, *[moved(n) for n in old])

    def remove(self, name: str) -> None:
        _check_name(name)
        if name in self.dirs:
            raise FlashMemError(21, f"{name!r} is a directory")  # EISDIR
        if name not in self.files:
            return
        self._event()
        self.stats.removes += 1
        del self.files[name]
        self._mirror(name)

    # --- directories (the REPL's os.mkdir / os.rmdir; the firmware has none) ---
    def mkdir(self, name: str) -> None:
        _check_name(name)
        self._check_parent(name)
        if name in self.dirs or name in self.files:
            raise FlashMemError(17, f"{name!r} exists")  # EEXIST
        if self.used() + _blocks(0) > self.size:
            raise FlashMemError(28, "no space left on the flash")  # ENOSPC
        self._event()
        self.dirs.add(name)
        self._mirror_dir(name)

    def rmdir(self, name: str) -> None:
        _check_name(name)
        if name not in self.dirs:
            raise FlashMemError(2, f"no directory {name!r}")  # ENOENT
        if self.listdir(name):
            raise FlashMemError(39, f"directory {name!r} is not empty")  # ENOTEMPTY
        self._event()
        self.dirs.discard(name)
        self._mirror_dir(name)

    def listdir(self, name: str = "") -> list[str]:
        """Names directly inside directory `name` ("" : the card's directory), sorted."""
        if name and name not in self.dirs:
            raise FlashMemError(2, f"no directory {name!r}")  # ENOENT
        return sorted(n.rpartition("/")[2] for n in (*self.files, *self.dirs)
                      if _parent(n) == name)

    def isdir(self, name: str) -> bool:
        return name == "" or name in self.dirs

    def _check_parent(self, name: str) -> None:
        parent = _parent(name)
        if parent and parent not in self.dirs:
            raise FlashMemError(2, f"no directory {parent!r}")  # ENOENT

    def used(self) -> int:
        return sum(_blocks(len(d)) for d in self.files.values()) + len(self.dirs) * BLOCK

    def free(self) -> int:
        return self.size - self.used()

    # --- snapshots and persistence ---
    def snapshot(self) -> dict[str, bytes]:
        return dict(self.files)

    def restore(self, files: dict[str, bytes]) -> None:
        """Put back the files of a snapshot (and the directories that hold them)."""
        self.files = dict(files)
        self.dirs = {p for n in files for p in _parents(n)}

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.files))

    def save(self, state_dir: str | Path | None = None) -> None:
        """Write the files into state_dir/flash/ (each replaced atomically on the host)."""
        base = _flash_dir(state_dir or self.state_dir)
        base.mkdir(parents=True, exist_ok=True)
        for old in sorted(base.rglob("*"), reverse=True):
            rel = old.relative_to(base).as_posix()
            if old.is_file() and rel not in self.files:
                old.unlink()
            elif old.is_dir() and rel not in self.dirs:
                shutil.rmtree(old)
        for name in sorted(self.dirs):
            (base / name).mkdir(mode=0o700, exist_ok=True)
        for name, data in self.files.items():
            _replace(base, name, data)

    def _mirror(self, *names: str) -> None:
        if self.state_dir is None:
            return
        base = _flash_dir(self.state_dir)
        base.mkdir(parents=True, exist_ok=True)
        for name in names:
            if name in self.files:
                for d in _parents(name):
                    (base / d).mkdir(mode=0o700, exist_ok=True)
                _replace(base, name, self.files[name])
            else:
                (base / name).unlink(missing_ok=True)
        if any("/" in n for n in names):
            self._mirror_dirs(base)

    def _mirror_dir(self, name: str) -> None:
        if self.state_dir is not None:
            base = _flash_dir(self.state_dir)
            base.mkdir(parents=True, exist_ok=True)
            if name in self.dirs:
                (base / name).mkdir(mode=0o700, exist_ok=True)
            else:
                (base / name).rmdir()

    def _mirror_dirs(self, base: Path) -> None:
        # After a directory moved: create the new ones, drop the empty leftovers.
        for name in sorted(self.dirs):
            (base / name).mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in sorted((p for p in base.rglob("*") if p.is_dir()), reverse=True):
            if old.relative_to(base).as_posix() not in self.dirs and not any(old.iterdir()):
                old.rmdir()

    def load(self, state_dir: str | Path) -> None:
        """Read the files saved by `save` (a missing directory is a blank flash)."""
        base = _flash_dir(state_dir)
        self.files = {}
        self.dirs = set()
        if base.is_dir():
            for p in sorted(base.rglob("*")):
                rel = p.relative_to(base).as_posix()
                if any(part.startswith(".") for part in rel.split("/")):
                    continue  # a temporary file of an interrupted host-side replace
                if p.is_dir():
                    self.dirs.add(rel)
                elif p.is_file():
                    self.files[rel] = p.read_bytes()


def _parents(name: str) -> list[str]:
    parts = name.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _replace(base: Path, name: str, data: bytes) -> None:
    """Replace state_dir/flash/<name> atomically on the host (a temporary file, then rename).

    The card's record holds its seed and admin key: files are 0600 (created new, never through
    a symlink), directories 0700."""
    head, _, tail = name.rpartition("/")
    tmp = base / head / f".{tail}.tmp"
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, base / name)


def _blocks(n: int) -> int:
    return -(-n // BLOCK) * BLOCK if n else BLOCK  # an empty file still takes its block


def _flash_dir(state_dir: str | Path | None) -> Path:
    """state_dir/flash: state_dir created 0700 when new; flash/ (ours) always owner-only."""
    if state_dir is None:
        raise FlashMemError(22, "no state directory to save the flash to")
    flash = Path(state_dir) / "flash"
    flash.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flash.mkdir(mode=0o700, exist_ok=True)
    if flash.stat().st_mode & 0o077:
        os.chmod(flash, 0o700)
    return flash
