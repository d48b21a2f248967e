"""`dsc serve --workers N`: connections accepted on the shared socket have Nagle switched off,
and the workers share them out evenly."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from typing import Any

import uvicorn

from host_tools.web.listen import BalancedServer, TcpConfig, tcp_listener


def _nodelay_of_an_accepted_connection(listener: socket.socket) -> int:
    async def main() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(seen, 5)
        finally:
            writer.close()
            server.close()

    # a thread of its own: a test before this one may leave an event loop running here
    # (Playwright's sync API does while its browser is open)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result(timeout=30)


def _protocol_zero_listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # protocol 0, as uvicorn makes it
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_a_protocol_zero_socket_gives_connections_with_nagle_on() -> None:
    assert _nodelay_of_an_accepted_connection(_protocol_zero_listener()) == 0  # the trap


def test_tcp_listener_gives_connections_with_nagle_off() -> None:
    listener = tcp_listener(_protocol_zero_listener())
    assert listener.proto == socket.IPPROTO_TCP and listener.get_inheritable()
    assert _nodelay_of_an_accepted_connection(listener) == 1


def test_the_workers_config_binds_such_a_socket() -> None:
    config = TcpConfig("host_tools.web.app:app_from_env", factory=True, host="127.0.0.1",
                       port=0, workers=2)
    sock = config.bind_socket()
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_workers_share_keep_alive_connections_out_evenly() -> None:
    """Two workers on one socket, four keep-alive clients connecting one after the other (as
    `make bench` does): each worker serves two (uvicorn's own listener gave one all four)."""
    listener = tcp_listener(_protocol_zero_listener())
    port = listener.getsockname()[1]
    servers: list[BalancedServer] = []
    threads = []
    for _ in range(2):
        config = uvicorn.Config(_hello, host="127.0.0.1", port=port, workers=2,
                                lifespan="off", log_level="warning", loop="asyncio")
        server = BalancedServer(config)
        # threads of one process take turns at the GIL (5 ms): a longer hold-back than the
        # 0.5 ms that separate worker processes need
        server.STEP, server.MAX_WAIT = 0.05, 0.2
        servers.append(server)
        t = threading.Thread(target=server.run, args=([listener],), daemon=True)
        t.start()
        threads.append(t)
    clients: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 10
        while not all(s.started for s in servers) and time.monotonic() < deadline:
            time.sleep(0.01)
        for _ in range(4):
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while not answer.endswith(b"ok") and (chunk := c.recv(1000)):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")
            clients.append(c)
        assert sorted(len(s.server_state.connections) for s in servers) == [2, 2]
    finally:
        for c in clients:
            c.close()
        for s in servers:
            s.should_exit = True
        for t in threads:
            t.join(10)
        listener.close()
    assert not any(t.is_alive() for t in threads)  # they stop when told (accept tasks ended)
