"""A small pool of open registries (one database connection each) shared by the request threads.

A connection that failed (PostgreSQL restarted, the network dropped) is closed and dropped, and
the next request opens a fresh one: the service recovers by itself once the database is back.
Settings (`dsc registry config`, withdrawal limits) changed by another process are re-read
every `reload_seconds`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from host_tools.errors import DscError
from provisioning.errors import ProvisioningError, RegistryError
from provisioning.registry import Registry


class RegistryPool:
    def __init__(self, url: str, key_file: Path | None, size: int, *,
                 clock: Callable[[], float] = time.time, reload_seconds: float = 5.0) -> None:
        self.url, self.key_file, self.size = url, key_file, size
        self.clock = clock
        self.reload_seconds = reload_seconds
        self._idle: queue.LifoQueue[tuple[Registry, float]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    def _open(self) -> Registry:
        return Registry.open(self.url, self.key_file, clock=self.clock, operator="api")

    @contextmanager
    def registry(self, operator: str) -> Iterator[Registry]:
        """A registry for one request, logging as `operator`."""
        self._slots.acquire()
        try:
            try:
                reg, loaded = self._idle.get_nowait()
            except queue.Empty:
                reg, loaded = self._open(), time.monotonic()
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
                    self._idle.put((reg, loaded))
                raise
            self._idle.put((reg, loaded))
        finally:
            self._slots.release()

    def close(self) -> None:
        while True:
            try:
                reg, _ = self._idle.get_nowait()
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
