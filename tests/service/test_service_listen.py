"""`dsc serve --workers N`: connections accepted on the shared socket have Nagle switched off."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket

from host_tools.web.listen import TcpConfig, tcp_listener


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
