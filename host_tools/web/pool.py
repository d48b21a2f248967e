"""A small pool of open registries (one database connection each) shared by the request threads.

A connection that failed (PostgreSQL restarted, the network dropped) is closed and dropped, and
the next request opens a fresh one: the service recovers by itself once the database is back.
Settings (`dsc registry config`, withdrawal limits) changed by another process are re-read
every `reload_seconds`. When the master key file changes (`dsc registry rotate-key` run beside
the service), every connection opened under the old key is closed at its next use and a fresh
one reads the new key: the service goes on without a restart.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from host_tools.errors import DscError
from provisioning.errors import ProvisioningError, RegistryError
from provisioning.registry import Registry

KeyStamp = tuple[int, int, int, int] | None


class RegistryPool:
    def __init__(self, url: str, key_file: Path | None, size: int, *,
                 clock: Callable[[], float] = time.time, reload_seconds: float = 5.0) -> None:
        self.url, self.key_file, self.size = url, key_file, size
        self.clock = clock
        self.reload_seconds = reload_seconds
        self._idle: queue.LifoQueue[tuple[Registry, float, KeyStamp]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    def _open(self) -> tuple[Registry, float, KeyStamp]:
        # The stamp is taken before the file is read: a rotation in between reopens once more.
        stamp = self._stamp(self.key_file)
        reg = Registry.open(self.url, self.key_file, clock=self.clock, operator="api")
        if self.key_file is None:
            stamp = self._stamp(reg.key_file)
        return reg, time.monotonic(), stamp

    @staticmethod
    def _stamp(path: Path | None) -> KeyStamp:
        """What changes when the key file is rewritten (rotate-key writes a new file and
        renames it over the old one: a new inode, a new change time)."""
        if path is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size

    @contextmanager
    def registry(self, operator: str) -> Iterator[Registry]:
        """A registry for one request, logging as `operator`."""
        self._slots.acquire()
        try:
            try:
                reg, loaded, stamp = self._idle.get_nowait()
            except queue.Empty:
                reg, loaded, stamp = self._open()
            if self._stamp(reg.key_file) != stamp:  # the master key was rotated meanwhile
                _close_quietly(reg)
                reg, loaded, stamp = self._open()
            if time.monotonic() - loaded > self.reload_seconds:
                # Another process may have changed the settings since this connection read them.
                reg.policy = reg._load_policy()
                loaded = time.monotonic()
            reg.operator = operator
            try:
                yield reg
            except BaseException as e:
                if _connection_failed(e):
                    _close_quietly(reg)
                else:
                    self._idle.put((reg, loaded, stamp))
                raise
            self._idle.put((reg, loaded, stamp))
        finally:
            self._slots.release()

    def close(self) -> None:
        while True:
            try:
                reg, _, _ = self._idle.get_nowait()
            except queue.Empty:
                return
            _close_quietly(reg)


def _connection_failed(e: BaseException) -> bool:
    """A database error, or anything unexpected, may have left the connection unusable: drop
    it rather than guess. A refusal of the library (one of its own errors) leaves it as it was."""
    return isinstance(e, RegistryError) or not isinstance(e, (DscError, ProvisioningError))


def _close_quietly(reg: Registry) -> None:
    try:
        reg.close()
    except Exception:  # noqa: S110 - the connection is being thrown away anyway
        pass
