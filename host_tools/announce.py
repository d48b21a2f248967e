"""Where running emulators announce their serial port, and how such an announcement reads.

A `dsc emulator --serial pty|tcp` is a card with no USB identity, so discovery cannot find it
among the serial ports. Instead each one writes a small JSON file while it runs:

    $XDG_RUNTIME_DIR/opendsc/emulators/<pid>-<random>.json
    (no XDG_RUNTIME_DIR: <temp dir>/opendsc-<uid>/emulators/...)

    {"format": "opendsc-emulator/1", "port": "/dev/pts/7", "pid": 4242,
     "serial_number": "DSC00000001" or null, "runtime": "cpython", "board": "pico"}

Written atomically (a temporary file renamed into place), mode 0600, in directories of mode
0700 owned by the user; removed when the emulator stops. The emulator (`emulator.announce`)
writes them, discovery reads them; this module is the format both share.

Reading trusts nothing in the file: a directory or file that is not the user's own and
private, a symbolic link, an oversized or malformed file, or a port that is neither a
pseudo-terminal nor a loopback `socket://` URL is ignored. An announcement whose process is
gone (the emulator was killed) is stale: it is ignored and removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "opendsc-emulator/1"
MAX_BYTES = 4096
SUFFIX = ".json"
# What an emulator's port may be: a pseudo-terminal (Linux, macOS) or a TCP port on loopback.
_PTY = re.compile(r"/dev/pts/[0-9]{1,6}|/dev/ttys[0-9]{1,6}")
_SOCKET = re.compile(r"socket://(127\.0\.0\.1|localhost|\[::1\]):([0-9]{1,5})")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_SERIAL = re.compile(r"[\x20-\x7e]{1,32}")


class AnnounceError(Exception):
    """The announcement directory is not private to this user (or cannot be made)."""


@dataclass(frozen=True)
class Announcement:
    port: str                  # a pty path or socket://127.0.0.1:PORT
    pid: int                   # the emulator's process
    runtime: str               # cpython | micropython
    board: str                 # boards/<board>.py
    serial_number: str | None  # when it was provisioned at start (INFO is what counts)
    path: Path | None = None   # the file it was read from

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "port": self.port, "pid": self.pid, "runtime": self.runtime,
                "board": self.board, "serial_number": self.serial_number}


def directory() -> Path:
    """The announcement directory for this user (it may not exist yet)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "opendsc" / "emulators"
    return Path(tempfile.gettempdir()) / f"opendsc-{os.getuid()}" / "emulators"


def _private(path: Path, create: bool) -> bool:
    """True when `path` is a directory of ours that only we can use (made so when `create`)."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def _checked_dir(create: bool) -> Path | None:
    d = directory()
    if create:
        with contextlib.suppress(FileExistsError):
            d.parent.parent.mkdir(parents=True, exist_ok=True)  # e.g. the temp dir itself
    if _private(d.parent, create) and _private(d, create):
        return d
    return None


def write(ann: Announcement) -> Path:
    """Publish an announcement; returns its file (give it to `remove` when the port closes)."""
    check(ann.to_json())  # never publish what a reader would refuse
    d = _checked_dir(create=True)
    if d is None:
        raise AnnounceError(f"{directory()} is not a private directory of this user")
    target = d / f"{ann.pid}-{secrets.token_hex(4)}{SUFFIX}"
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(ann.to_json(), f)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def check(data: object) -> Announcement:
    """An announcement from decoded JSON, or ValueError naming what is wrong with it."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not an {FORMAT} announcement")
    port, pid, runtime, board, serial = (data.get(k) for k in
                                         ("port", "pid", "runtime", "board", "serial_number"))
    if not isinstance(port, str) or not valid_port(port):
        raise ValueError("port: neither a pseudo-terminal nor a loopback socket:// URL")
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid < 1 << 31:
        raise ValueError("pid: not a process id")
    if not isinstance(runtime, str) or not _NAME.fullmatch(runtime):
        raise ValueError("runtime: not a short name")
    if not isinstance(board, str) or not _NAME.fullmatch(board):
        raise ValueError("board: not a short name")
    if serial is not None and not (isinstance(serial, str) and _SERIAL.fullmatch(serial)):
        raise ValueError("serial_number: not 1 to 32 printable ASCII characters")
    return Announcement(port, pid, runtime, board, serial)


def valid_port(port: str) -> bool:
    """A pseudo-terminal of this user that exists as a character device, or a loopback TCP
    URL."""
    m = _SOCKET.fullmatch(port)
    if m:
        return 0 < int(m.group(2)) < 65536
    if not _PTY.fullmatch(port):
        return False
    try:
        st = os.stat(port)
    except OSError:
        return False
    # A pty belongs to whoever opened it: never another user's terminal.
    return stat.S_ISCHR(st.st_mode) and st.st_uid == os.getuid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not ours, so not our emulator
        return False
    return True


def _load(path: Path) -> Announcement:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise ValueError("not a private regular file of this user")
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ValueError("too large")
    ann = check(json.loads(raw.decode("utf-8")))
    return Announcement(ann.port, ann.pid, ann.runtime, ann.board, ann.serial_number, path)


def read_all(clean: bool = True) -> list[Announcement]:
    """The running emulators' announcements, sorted by port. Malformed files are skipped;
    stale ones (their process is gone) are skipped and, with `clean`, removed."""
    d = _checked_dir(create=False)
    if d is None:
        return []
    found = []
    for path in sorted(d.glob("*" + SUFFIX)):
        try:
            ann = _load(path)
        except (OSError, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            continue
        if not _alive(ann.pid):
            if clean:
                remove(path)
            continue
        found.append(ann)
    return sorted(found, key=lambda a: a.port)
