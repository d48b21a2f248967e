# The card's flash as a MicroPython VFS, for REPL code on the emulator's MicroPython runtime.
# runner.py mounts it at the board's flash directory (os.mount(CardVfs(hal, "/dsc"), "/dsc")),
# so open(), os.listdir(), os.stat(), os.remove(), ... on those paths reach the emulator's
# Flash; the rest of the VM's filesystem is the unix port's own (the host's).
# MicroPython hands a VFS paths relative to its mount point ("/x", or "x" relative to the
# current directory when that lies inside it); each call goes to the emulator as one bridge
# message with the absolute path, where emulator/cardfs.py resolves it:
#   v<hex of JSON [op, args...]>   ->   +<hex of JSON result> | E<errno>
# File contents travel as hex strings inside the JSON. A file opened for writing is kept in
# RAM and written to the flash at flush()/close(), one fs write as the firmware's HAL does.
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
            data = unhexlify(self._op("read", full))
            return io.BytesIO(data) if binary else io.StringIO(data.decode())
        start = b""
        if "a" in mode or "x" in mode:
            try:
                self._op("stat", full)
                if "x" in mode:
                    raise OSError(17)  # EEXIST
                start = unhexlify(self._op("read", full))
            except OSError as e:
                if e.errno != 2:  # ENOENT: a new file
                    raise
        self._op("write", full, hexlify(start).decode())  # created/truncated now, as on a board
        return FlashFile(self, full, start, binary)


class FlashFile:
    # A file being written; its bytes go to the flash on flush() and close().
    def __init__(self, vfs, path, start, binary):
        self._vfs = vfs
        self._path = path
        self._binary = binary
        self._buf = io.BytesIO()
        self._buf.write(start)
        self._closed = False

    def write(self, data):
        if self._closed:
            raise OSError(9)  # EBADF
        if not self._binary:
            data = data.encode()
        return self._buf.write(data)

    def flush(self):
        if not self._closed:
            self._vfs._op("write", self._path, hexlify(self._buf.getvalue()).decode())

    def close(self):
        if not self._closed:
            self.flush()
            self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
