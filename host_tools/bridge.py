"""A transport whose far end is not a port but two queues: the frames of `dsc.protocol` carried
by something else (the soft card page's HTTP requests, host_tools/web/softcard.py).

`CardClient(QueueTransport())` talks to the card exactly as over serial; whoever carries the
bytes calls `from_card(data)` with what the card sent and `to_card(timeout)` for what to send it.
"""

from __future__ import annotations

import queue
import threading

from host_tools.transport import CardTimeout, Transport, TransportError


class QueueTransport(Transport):
    def __init__(self, name: str = "bridge") -> None:
        self.name = name
        self._in: queue.Queue[bytes] = queue.Queue()    # card -> client
        self._out: queue.Queue[bytes] = queue.Queue()   # client -> card
        self._closed = threading.Event()

    # --- the client's side (host_tools.client.CardClient) ---
    def send(self, data: bytes) -> None:
        if self._closed.is_set():
            raise TransportError(f"{self.name}: the link to the card is closed")
        self._out.put(bytes(data))

    def receive(self, timeout: float) -> bytes:
        if self._closed.is_set():
            raise TransportError(f"{self.name}: the link to the card is closed")
        try:
            first = self._in.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return b""
        if self._closed.is_set():  # woken by close(): the link is gone, not a quiet card
            raise TransportError(f"{self.name}: the link to the card is closed")
        return first + self._drain(self._in)

    def close(self) -> None:
        self._closed.set()
        self._in.put(b"")  # wakes a receive() waiting for the card

    # --- the carrier's side ---
    def from_card(self, data: bytes) -> None:
        if data and not self._closed.is_set():
            self._in.put(bytes(data))

    def to_card(self, timeout: float) -> bytes:
        """What the client sent since the last call, waiting up to `timeout` s for the first."""
        try:
            first = self._out.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return b""
        return first + self._drain(self._out)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @staticmethod
    def _drain(q: queue.Queue[bytes]) -> bytes:
        parts = []
        while True:
            try:
                parts.append(q.get_nowait())
            except queue.Empty:
                return b"".join(parts)


__all__ = ["CardTimeout", "QueueTransport"]
