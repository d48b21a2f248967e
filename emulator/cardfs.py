"""The card's flash as the REPL sees it: a filesystem rooted at the board's flash directory.

On a board, code typed at the REPL (or sent by `mpremote fs ...`) reaches the card's files as
`/dsc/record` (the directory `boards/<name>.py` names in `flash.dir`). `CardFs` gives that
view of the emulator's `Flash`: absolute and relative paths, `.`/`..`, the current directory,
and MicroPython's `os` calls (`ilistdir`, `stat`, `remove`, `rename`, `mkdir`, `rmdir`,
`statvfs`) with MicroPython's errors (`OSError: [Errno 2] ENOENT`, which mpremote turns into
its own messages). The flash directory's parents (`/`, and `/flash` on a pyboard) are
directories that hold only the path down to it; nothing else exists outside it, and writing
there is refused with EROFS.

The CPython runtime serves REPL code from this object directly (`emulator/repl_cpython.py`);
the MicroPython runtime's VFS (`emulator/mp/cardvfs.py`) forwards each call here over the
bridge. Every change goes through `Flash`, so it lands in the state directory at once and
counts as flash events (power cuts included).
"""

from __future__ import annotations

import errno
from typing import Any

from emulator.flashmem import BLOCK, Flash, FlashMemError

S_IFDIR = 0x4000
S_IFREG = 0x8000
NAME_MAX = 255


def fs_error(code: int) -> OSError:
    """An OSError worded as MicroPython words it: `[Errno 2] ENOENT`."""
    return OSError(code, errno.errorcode.get(code, str(code)))


class CardFs:
    def __init__(self, flash: Flash, root: str) -> None:
        self.flash = flash
        self.root = normpath(root, "/")
        if self.root == "/":
            raise ValueError("the card's flash directory cannot be the filesystem root")
        self.cwd = self.root

    # --- paths ---
    def abspath(self, path: str) -> str:
        return normpath(path, self.cwd)

    def locate(self, path: str) -> tuple[str, str]:
        """("ancestor", path) for `/` and the flash directory's parents, ("card", name) inside
        it (name "" for the directory itself, "lib/x.py" below); ENOENT elsewhere."""
        p = self.abspath(path)
        if p == self.root or p.startswith(self.root + "/"):
            return "card", p[len(self.root) + 1:]
        if p == "/" or self.root.startswith(p + "/"):
            return "ancestor", p
        raise fs_error(errno.ENOENT)

    def _card_name(self, path: str, *, write: bool = False) -> str:
        try:
            kind, name = self.locate(path)
        except OSError:
            if write:
                raise fs_error(errno.EROFS) from None  # outside the emulated flash
            raise
        if kind != "card":
            raise fs_error(errno.EROFS if write else errno.EISDIR)
        return name

    # --- the os module's calls ---
    def ilistdir(self, path: str = "") -> list[tuple[str, int, int, int]]:
        kind, name = self.locate(path or ".")
        if kind == "ancestor":
            child = self.root[len(name.rstrip("/")) + 1:].split("/")[0]
            return [(child, S_IFDIR, 0, 0)]
        if not self.flash.isdir(name):
            raise fs_error(errno.ENOTDIR if name in self.flash.files else errno.ENOENT)
        out = []
        for entry in self.flash.listdir(name):
            full = f"{name}/{entry}" if name else entry
            data = self.flash.files.get(full)
            out.append((entry, S_IFDIR, 0, 0) if data is None
                       else (entry, S_IFREG, 0, len(data)))
        return out

    def listdir(self, path: str = "") -> list[str]:
        return [e[0] for e in self.ilistdir(path)]

    def stat(self, path: str) -> tuple[int, ...]:
        kind, name = self.locate(path)
        if kind == "ancestor" or self.flash.isdir(name):
            return (S_IFDIR, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        data = self.flash.files.get(name)
        if data is None:
            raise fs_error(errno.ENOENT)
        return (S_IFREG, 0, 0, 0, 0, 0, len(data), 0, 0, 0)

    def isdir(self, path: str) -> bool:
        try:
            return self.stat(path)[0] == S_IFDIR
        except OSError:
            return False

    def read(self, path: str) -> bytes:
        name = self._card_name(path)
        data = self.flash.files.get(name)
        if data is None:
            raise fs_error(errno.EISDIR if self.flash.isdir(name) else errno.ENOENT)
        return data

    def write(self, path: str, data: bytes) -> None:
        name = self._card_name(path, write=True)
        if not name or self.flash.isdir(name):
            raise fs_error(errno.EISDIR)
        self._flash(self.flash.write, name, data)

    def remove(self, path: str) -> None:
        name = self._card_name(path, write=True)
        if name not in self.flash.files:
            raise fs_error(errno.EISDIR if self.flash.isdir(name) else errno.ENOENT)
        self._flash(self.flash.remove, name)

    def rename(self, src: str, dst: str) -> None:
        a = self._card_name(src, write=True)
        b = self._card_name(dst, write=True)
        if not a or not b:
            raise fs_error(errno.EINVAL)
        if a not in self.flash.files and not self.flash.isdir(a):
            raise fs_error(errno.ENOENT)
        self._flash(self.flash.rename, a, b)

    def mkdir(self, path: str) -> None:
        try:
            kind, name = self.locate(path)
        except OSError:
            raise fs_error(errno.EROFS) from None
        if kind == "ancestor" or not name:
            raise fs_error(errno.EEXIST)
        self._flash(self.flash.mkdir, name)

    def rmdir(self, path: str) -> None:
        name = self._card_name(path, write=True)
        if not name:
            raise fs_error(errno.EBUSY)  # the flash directory is where the card lives
        if not self.flash.isdir(name):
            raise fs_error(errno.ENOTDIR if name in self.flash.files else errno.ENOENT)
        self._flash(self.flash.rmdir, name)

    # --- files being written (open(path, "w"/"a"/"x") until flush/close) ---
    def open_write(self, path: str, kind: str) -> tuple[str, bytearray]:
        """Create or truncate now, as open() does; returns (absolute path, bytes so far).
        kind: "w" truncate, "a" append, "x" fail with EEXIST when the file exists."""
        full = self.abspath(path)
        try:
            start = self.read(full)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
            start = None
        if kind == "x" and start is not None:
            raise fs_error(errno.EEXIST)
        data = bytearray(start or b"") if kind == "a" else bytearray()
        self.write(full, bytes(data))
        return full, data

    def chdir(self, path: str) -> None:
        if not self.isdir(path):
            raise fs_error(errno.ENOENT)
        self.cwd = self.abspath(path)

    def getcwd(self) -> str:
        return self.cwd

    def statvfs(self, path: str = "/") -> tuple[int, ...]:
        self.locate(path)
        free = max(0, self.flash.free()) // BLOCK
        return (BLOCK, BLOCK, self.flash.size // BLOCK, free, free, 0, 0, 0, 0, NAME_MAX)

    @staticmethod
    def _flash(op: Any, *args: Any) -> None:
        try:
            op(*args)
        except FlashMemError as e:  # reworded as MicroPython would print it
            raise fs_error(e.errno or errno.EIO) from None


def normpath(path: str, cwd: str) -> str:
    """An absolute path without `.`, `..` or repeated slashes (`..` stops at the root)."""
    if not isinstance(path, str):
        raise TypeError("a path is a str")
    if "\0" in path:
        raise fs_error(errno.EINVAL)
    parts: list[str] = []
    for part in (path if path.startswith("/") else f"{cwd}/{path}").split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/" + "/".join(parts)
