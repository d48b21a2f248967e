"""The listening socket of `dsc serve --workers N`, made so that replies are not held back.

asyncio switches Nagle's algorithm off (TCP_NODELAY) on an accepted connection only when the
socket says its protocol is IPPROTO_TCP. uvicorn's socket for several workers is made with
protocol 0, which every accepted connection inherits: each small response then waits for the
client's delayed ACK (about 40 ms on Linux) — measured 32 logins/s instead of 271 with two
processes. Re-opening the same descriptor lets the kernel report the real protocol.

The workers also share the connections out evenly. On a shared socket every idle worker is
woken for a new connection and the first to call accept() takes it: in practice the same one,
so that the four keep-alive connections of a login server (or of `make bench`) all landed in one
process and the second did nothing (measured: all four in one worker; a second worker added
~20 % instead of nearly doubling). Here each worker accepts by itself (`BalancedServer`) and
one holding n open connections waits n times `STEP` (at most `MAX_WAIT`) before it takes a new one,
so that a less busy worker takes it first; it takes it anyway when none did by then.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess

log = logging.getLogger("uvicorn.error")


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


class BalancedServer(uvicorn.Server):
    """A worker's uvicorn server that accepts from the shared sockets itself, holding back by
    `STEP` per connection it already has (at most `MAX_WAIT`)."""

    STEP = 0.0005
    MAX_WAIT = 0.004

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets is None:  # one process: uvicorn's own listener
            await super().startup(sockets)
            return
        await super().startup(sockets=[])  # the lifespan, no asyncio server
        self._accepting = [asyncio.create_task(self._accept_from(s)) for s in sockets]

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        accepting = getattr(self, "_accepting", [])
        for task in accepting:
            task.cancel()
        await asyncio.gather(*accepting, return_exceptions=True)  # before the sockets close
        await super().shutdown(sockets)

    def _protocol(self) -> asyncio.Protocol:
        config = self.config
        protocol: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=self.server_state, app_state=self.lifespan.state)
        return protocol

    async def _accept_from(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        sock.listen(self.config.backlog)  # uvicorn binds it; asyncio's server would listen
        sock.setblocking(False)
        handshakes: set[asyncio.Task[Any]] = set()
        while True:
            await _readable(loop, sock)
            held = len(self.server_state.connections)
            if held:
                await asyncio.sleep(min(held * self.STEP, self.MAX_WAIT))
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                continue  # another worker took it
            except OSError as e:  # out of descriptors, ...: wait rather than spin
                log.error("accept failed: %s", e)
                await asyncio.sleep(0.1)
                continue
            conn.setblocking(False)
            if conn.family in (socket.AF_INET, socket.AF_INET6):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = asyncio.create_task(self._connect(loop, conn))
            handshakes.add(task)
            task.add_done_callback(handshakes.discard)

    async def _connect(self, loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(self._protocol, conn, ssl=self.config.ssl)
        except Exception as e:  # a failed TLS handshake, a reset: this connection only
            log.debug("connection dropped before serving: %s", e)
            conn.close()


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    fd = sock.fileno()
    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


class _Worker(multiprocess.Process):
    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = BalancedServer(config=self.config)
        return self._server


def run_workers(app: str, **options: Any) -> None:
    """What `uvicorn.run(app, workers=N, ...)` does, on a `tcp_listener` socket whose
    connections the workers share out (`BalancedServer`)."""
    config = TcpConfig(app, **options)
    # The supervisor makes its workers (at start, on restart, on SIGTTIN) as `Process`: this
    # process does nothing else, so that name is pointed at `_Worker` here.
    multiprocess.Process = _Worker  # type: ignore[misc]
    multiprocess.Multiprocess(config, sockets=[config.bind_socket()]).run()
