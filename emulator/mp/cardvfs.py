# The card's flash as a MicroPython VFS, for REPL code on the emulator's MicroPython runtime.
# runner.py mounts it at the first part of the board's flash directory ("/dsc"; "/flash" for
# "/flash/dsc"), so open(), os.listdir(), os.stat(), os.remove(), ... on those paths reach the
# emulator's Flash; the rest of the VM's filesystem is the unix port's own (the host's).
# MicroPython hands a VFS paths relative to its mount point ("/x", or "x" relative to the
# current directory when that lies inside it); each call goes to the emulator as one bridge
# message with the absolute path, where emulator/cardfs.py resolves it:
#   v<hex of JSON [op, args...]>   ->   +<hex of JSON result> | E<errno>
#   V<hex of the path>             ->   +<hex of the file's bytes> | E<errno>   (reading)
# A file opened for writing streams its bytes to a buffer in the emulator (JSON ops wopen,
# wdata, wflush, wclose), which writes them to the flash at flush()/close(): one fs write, as
# the firmware's HAL does, and the VM's heap holds one chunk at a time, not the file.
import io
import json
from binascii import hexlify, unhexlify


class CardVfs:
    def __init__(self, hal, mount):
        self._hal = hal
        self._mount = mount
        self._cwd = "/"  # inside the mount

    def _path(self, path):
        if not path.startswith("/"):
            path = self._cwd.rstrip("/") + "/" + path
        return self._mount + path.rstrip("/") if path != "/" else self._mount

    def _op(self, *args):
        reply = self._hal._call(b"v" + hexlify(json.dumps(args).encode()))
        self._hal._check(reply)
        return json.loads(unhexlify(reply[1:]))

    def __repr__(self):
        return "<CardVfs>"

    # --- the VFS protocol ---
    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def ilistdir(self, path):
        return iter([tuple(e) for e in self._op("ilistdir", self._path(path))])

    def stat(self, path):
        return tuple(self._op("stat", self._path(path)))

    def statvfs(self, path):
        return tuple(self._op("statvfs", self._path(path)))

    def remove(self, path):
        self._op("remove", self._path(path))

    def rename(self, src, dst):
        self._op("rename", self._path(src), self._path(dst))

    def mkdir(self, path):
        self._op("mkdir", self._path(path))

    def rmdir(self, path):
        self._op("rmdir", self._path(path))

    def chdir(self, path):
        full = self._path(path)
        if self._op("stat", full)[0] & 0x4000 == 0:
            raise OSError(20)  # ENOTDIR
        self._cwd = full[len(self._mount):] or "/"

    def getcwd(self):
        return self._cwd

    def open(self, path, mode):
        full = self._path(path)
        binary = "b" in mode
        if "+" in mode:
            raise OSError(22)  # EINVAL: read-write files are not offered
        if "r" in mode:
            reply = self._hal._call(b"V" + hexlify(full.encode()))
            self._hal._check(reply)
            data = unhexlify(reply[1:])
            return io.BytesIO(data) if binary else io.StringIO(data.decode())
        kind = "x" if "x" in mode else "a" if "a" in mode else "w"
        # created (or truncated) now, as open() does on a board
        return FlashFile(self, self._op("wopen", full, kind), binary)


class FlashFile:
    # A file being written: its bytes collect in the emulator until flush() or close().
    def __init__(self, vfs, handle, binary):
        self._vfs = vfs
        self._handle = handle
        self._binary = binary
        self._closed = False

    def write(self, data):
        if self._closed:
            raise OSError(9)  # EBADF
        if not self._binary:
            data = data.encode()
        for i in range(0, len(data), 1024):
            self._vfs._op("wdata", self._handle, hexlify(data[i:i + 1024]).decode())
        return len(data)

    def flush(self):
        if not self._closed:
            self._vfs._op("wflush", self._handle)

    def close(self):
        if not self._closed:
            self._closed = True
            self._vfs._op("wclose", self._handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
