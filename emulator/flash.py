"""The board's filesystem: an in-memory dict of files, with power-cut injection.

Names are relative to the card's directory (`board["flash"]["dir"]`), as the HAL's `fs_*`
calls use them. The model is deliberately pessimistic about power cuts: a file write is
*not* atomic; a cut leaves exactly the bytes written before it (a real littlefs would
usually keep the old file, FAT would not). Only `rename` is atomic, as littlefs, FAT and
POSIX promise. If the firmware survives this model, it survives the real ones.

Cut points are counted in *events*, each one unit the power can fail before:
  - a write is 1 event for create/truncate, then 1 event per byte;
  - a rename is 1 event; a remove is 1 event.
`cut_before(n)` arms a cut that raises `PowerCut` just before event number n (counting from
the moment of arming, starting at 0). A cut before a write's first event leaves the file as
it was; before byte k it holds the first k bytes. `events` counts every event since the
flash was made, so a test runs an operation once to count its events, then replays it with a
cut at each of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BLOCK = 4096  # space accounting: files occupy whole blocks, like littlefs/FAT


class PowerCut(BaseException):  # not an error: the board lost its power
    """The power failed during a flash operation (injected by `Flash.cut_before`).

    A BaseException so that firmware code catching `Exception` cannot swallow it.
    """


class FlashError(OSError):
    """A flash operation the real filesystem would refuse (bad name, missing file, full)."""


@dataclass
class FlashStats:
    writes: int = 0
    renames: int = 0
    removes: int = 0
    bytes_written: int = 0


def _check_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
        raise FlashError(22, f"invalid file name {name!r}")  # EINVAL


class Flash:
    """Files of the card's directory, with counters and armed power cuts."""

    def __init__(self, size: int = 1 << 20, state_dir: str | Path | None = None) -> None:
        self.size = size
        self.files: dict[str, bytes] = {}
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
        try:
            self._write(name, data)
        finally:
            self._mirror(name)

    def _write(self, name: str, data: bytes | bytearray | memoryview) -> None:
        data = bytes(data)
        old = _blocks(len(self.files[name])) if name in self.files else 0
        if self.used() - old + _blocks(len(data)) > self.size:
            raise FlashError(28, "no space left on the flash")  # ENOSPC
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
        if src not in self.files:
            raise FlashError(2, f"no file {src!r}")  # ENOENT
        self._event()
        self.stats.renames += 1
        self.files[dst] = self.files.pop(src)
        self._mirror(src, dst)

    def remove(self, name: str) -> None:
        _check_name(name)
        if name not in self.files:
            return
        self._event()
        self.stats.removes += 1
        del self.files[name]
        self._mirror(name)

    def used(self) -> int:
        return sum(_blocks(len(d)) for d in self.files.values())

    def free(self) -> int:
        return self.size - self.used()

    # --- snapshots and persistence ---
    def snapshot(self) -> dict[str, bytes]:
        return dict(self.files)

    def restore(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.files))

    def save(self, state_dir: str | Path | None = None) -> None:
        """Write the files into state_dir/flash/ (each replaced atomically on the host)."""
        base = _flash_dir(state_dir or self.state_dir)
        base.mkdir(parents=True, exist_ok=True)
        for old in base.iterdir():
            if old.is_file() and old.name not in self.files:
                old.unlink()
        for name, data in self.files.items():
            tmp = base / f".{name}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, base / name)

    def _mirror(self, *names: str) -> None:
        if self.state_dir is None:
            return
        base = _flash_dir(self.state_dir)
        base.mkdir(parents=True, exist_ok=True)
        for name in names:
            if name in self.files:
                tmp = base / f".{name}.tmp"
                tmp.write_bytes(self.files[name])
                os.replace(tmp, base / name)
            else:
                (base / name).unlink(missing_ok=True)

    def load(self, state_dir: str | Path) -> None:
        """Read the files saved by `save` (a missing directory is a blank flash)."""
        base = _flash_dir(state_dir)
        self.files = {}
        if base.is_dir():
            for p in sorted(base.iterdir()):
                if p.is_file() and not p.name.startswith("."):
                    self.files[p.name] = p.read_bytes()


def _blocks(n: int) -> int:
    return -(-n // BLOCK) * BLOCK if n else BLOCK  # an empty file still takes its block


def _flash_dir(state_dir: str | Path | None) -> Path:
    if state_dir is None:
        raise FlashError(22, "no state directory to save the flash to")
    return Path(state_dir) / "flash"
