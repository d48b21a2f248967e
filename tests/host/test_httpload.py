"""bench/httpload.py, the bench's load generator: bounded by count and by time, percentiles and
histogram, pacing without coordinated omission, and its keep-alive JSON client against a real
loopback server (no resend, reconnect after `Connection: close`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import httpload


def test_percentiles_and_histogram_of_known_latencies() -> None:
    ms = [float(i) for i in range(1, 101)]
    assert httpload.percentile(ms, 50) == 50 and httpload.percentile(ms, 99) == 99
    assert httpload.percentile([], 50) == 0
    hist = httpload.histogram(ms)
    assert sum(n for _, n in hist) == 100
    assert hist[0] == (1.0, 1) and hist[-1] == (100.0, 100 - 56)  # (56.2341, 100] holds 57..100


def test_run_stops_at_the_count_and_counts_outcomes() -> None:
    calls = iter(range(10**6))

    def make(i: int) -> httpload.Login:
        def login() -> bool:
            n = next(calls)
            if n % 10 == 3:
                raise httpload.HttpError("boom")
            return n % 10 != 7
        return login

    r = httpload.run(make, 3, max_logins=50, max_seconds=30)
    assert r.logins == 50 and r.errors == 5 and r.accepted == 40
    assert r.first_error is not None and "boom" in r.first_error


def test_run_stops_at_the_time_limit() -> None:
    def make(i: int) -> httpload.Login:
        return lambda: time.sleep(0.01) is None

    t = time.perf_counter()
    r = httpload.run(make, 2, max_logins=10**6, max_seconds=0.3)
    assert time.perf_counter() - t < 2 and 20 <= r.logins <= 80 and r.accepted == r.logins


def test_paced_run_counts_waiting_when_the_server_cannot_keep_up() -> None:
    def make(i: int) -> httpload.Login:
        return lambda: time.sleep(0.02) is None  # at most 50 logins/s from one client

    easy = httpload.run(make, 1, max_logins=10**6, max_seconds=0.5, rate=20)
    assert 8 <= easy.logins <= 12 and easy.p99_ms < 60
    hard = httpload.run(make, 1, max_logins=10**6, max_seconds=0.5, rate=200)
    assert hard.p99_ms > 150  # the late starts are in the latency, not hidden
    with pytest.raises(ValueError):
        httpload.run(make, 1, max_logins=1, max_seconds=1, rate=0)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, dict[str, object]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, self.headers.get("Authorization", ""), body))
        out = json.dumps({"echo": body}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        if body.get("close"):
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(out)

    def do_GET(self) -> None:  # a chunked answer, split mid-way
        self.seen.append((self.path, self.headers.get("Authorization", ""), {}))
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in (b'{"chun', b'ked": true}'):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def test_http_client_keeps_alive_and_reconnects_only_after_close(
        server: ThreadingHTTPServer) -> None:
    port = server.server_address[1]
    c = httpload.Http("127.0.0.1", port)
    _Handler.seen.clear()
    assert c.request("POST", "/a", {"n": 1}, headers={"Authorization": "Bearer t"}) == \
        (200, {"echo": {"n": 1}})
    first = c._sock
    assert c.request("POST", "/b", {"n": 2}) == (200, {"echo": {"n": 2}})
    assert c._sock is first  # the same connection
    assert c.request("POST", "/c", {"close": True})[0] == 200
    assert c._sock is None  # the server said it closes
    assert c.request("POST", "/d", {"n": 4})[0] == 200
    assert [p for p, _, _ in _Handler.seen] == ["/a", "/b", "/c", "/d"]  # each sent once
    assert _Handler.seen[0][1] == "Bearer t"
    assert c.request("GET", "/e") == (200, {"chunked": True})
    assert c.request("POST", "/f", {"n": 6}) == (200, {"echo": {"n": 6}})  # still in step
    c.close()
    with pytest.raises(httpload.HttpError):
        httpload.Http("127.0.0.1", 1, timeout=2).request("POST", "/x", {})
