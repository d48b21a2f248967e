"""The listening socket of `dsc serve --workers N`, made so that replies are not held back.

asyncio switches Nagle's algorithm off (TCP_NODELAY) on an accepted connection only when the
socket says its protocol is IPPROTO_TCP. uvicorn's socket for several workers is made with
protocol 0, which every accepted connection inherits: each small response then waits for the
client's delayed ACK (about 40 ms on Linux) — measured 32 logins/s instead of 271 with two
processes. Re-opening the same descriptor lets the kernel report the real protocol.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn


def tcp_listener(sock: socket.socket) -> socket.socket:
    """`sock`, or the same descriptor re-opened so that its protocol reads IPPROTO_TCP."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto != 0:
        return sock
    tcp = socket.socket(fileno=sock.detach())  # family, type and protocol from the kernel
    tcp.set_inheritable(True)
    return tcp


class TcpConfig(uvicorn.Config):
    """uvicorn's configuration, whose socket for worker processes is a `tcp_listener`."""

    def bind_socket(self) -> socket.socket:
        return tcp_listener(super().bind_socket())


def run_workers(app: str, **options: Any) -> None:
    """What `uvicorn.run(app, workers=N, ...)` does, on a `tcp_listener` socket."""
    from uvicorn.supervisors import Multiprocess

    config = TcpConfig(app, **options)
    Multiprocess(config, sockets=[config.bind_socket()]).run()
