# The flash part of the HAL on a real filesystem (littlefs or FAT on a board, POSIX on the unix
# port): the card's files live in one directory. MachineHal and the unix-port board used by the
# flash test both build on this.
import os

from dsc.hal import Hal


class FileFlashHal(Hal):
    def __init__(self, directory):
        self._dir = directory
        _makedirs(directory)

    def _path(self, name):
        return self._dir + "/" + name

    def fs_read(self, name):
        try:
            with open(self._path(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def fs_write(self, name, data):
        with open(self._path(name), "wb") as f:
            f.write(data)

    def fs_rename(self, src, dst):
        try:
            os.rename(self._path(src), self._path(dst))  # littlefs, POSIX: an atomic replace
        except OSError:
            # FAT refuses to rename over a file: remove it first. A cut in between leaves only
            # the complete new file, which dsc.record.load adopts.
            os.remove(self._path(dst))
            os.rename(self._path(src), self._path(dst))

    def fs_remove(self, name):
        try:
            os.remove(self._path(name))
        except OSError:
            pass

    def fs_free(self):
        st = os.statvfs(self._dir)
        return st[0] * st[4]  # f_bsize * f_bavail


def _makedirs(path):
    cur = ""
    for part in path.split("/"):
        if not part:
            continue
        cur += "/" + part if path.startswith("/") or cur else part
        try:
            os.mkdir(cur)
        except OSError:
            pass  # exists
