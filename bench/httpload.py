"""A small, bounded load generator: N concurrent clients, each repeating one "login" (a callable
that makes its requests and says whether the login was accepted), until a total count or a time
limit is reached, whichever comes first. It measures logins/s and the latency of each whole login
(p50/p90/p99/max and a log-spaced histogram).

It knows nothing of privacyIDEA or OpenDSC: bench_privacyidea.py gives it logins through
`/validate/triggerchallenge` + `/validate/check`, and through `dsc serve`'s `/v1/challenges`,
or straight through the registry library. `Http` is a keep-alive JSON client for loopback
servers, on a raw socket (cheap: it shares the cores with the server it measures): it never
resends a request (a POST that may have reached the server is not retried: a resent login would
count twice); it reconnects only when the server said it closes, or after a failed request.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode

Login = Callable[[], bool]


class HttpError(Exception):
    """A request that got no answer or a non-JSON one."""


class Http:
    """One keep-alive connection to a loopback HTTP/1.1 server, JSON (or form) in, JSON out.

    Deliberately small: the load generator shares the machine's cores with the servers it
    measures, so each request is one `sendall` of the whole request (headers and body together,
    Nagle off: nothing waits for a delayed ACK) and the answer is read by Content-Length (or
    chunks), without http.client's header parser (its email.parser costs about as much as a
    `dsc serve` request)."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._sock: socket.socket | None = None
        self._buf = b""

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                headers: dict[str, str] | None = None, form: bool = False) -> tuple[int, Any]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        data = b""
        if body is not None:
            if form:
                data = urlencode(body).encode()
                lines.append("Content-Type: application/x-www-form-urlencoded")
            else:
                data = json.dumps(body).encode()
                lines.append("Content-Type: application/json")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(data)}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data
        try:
            if self._sock is None:
                self._sock = socket.create_connection((self.host, self.port), self.timeout)
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._buf = b""
            self._sock.sendall(wire)
            status, will_close, raw = self._response(method)
        except (OSError, ValueError) as e:
            self.close()
            raise HttpError(f"{method} {path}: {type(e).__name__}: {e}") from None
        if will_close:
            self.close()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            raise HttpError(f"{method} {path}: HTTP {status}, not JSON") from None

    def _more(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buf += chunk

    def _line(self) -> bytes:
        while (end := self._buf.find(b"\r\n")) < 0:
            self._more()
        line, self._buf = self._buf[:end], self._buf[end + 2:]
        return line

    def _take(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._more()
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _response(self, method: str) -> tuple[int, bool, bytes]:
        while (end := self._buf.find(b"\r\n\r\n")) < 0:
            self._more()
        head, self._buf = self._buf[:end].decode("latin-1"), self._buf[end + 4:]
        status_line, *header_lines = head.split("\r\n")
        version, code = status_line.split(" ", 2)[:2]
        fields: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        status = int(code)
        will_close = (fields.get("connection", "").lower() == "close"
                      or (version == "HTTP/1.0" and
                      fields.get("connection", "").lower() != "keep-alive"))
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return status, will_close, b""
        if "chunked" in fields.get("transfer-encoding", "").lower():
            parts = []
            while size := int(self._line().split(b";")[0], 16):
                parts.append(self._take(size))
                self._take(2)
            while self._line():  # trailers, then the empty line
                pass
            return status, will_close, b"".join(parts)
        if "content-length" in fields:
            return status, will_close, self._take(int(fields["content-length"]))
        while True:  # the body runs to the end of the connection
            try:
                self._more()
            except ConnectionError:
                body, self._buf = self._buf, b""
                return status, True, body

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self._buf = b""


# log-spaced latency buckets, upper bounds in ms: 0.1 ms ... ~100 s, 4 per decade
BUCKETS_MS = [round(10 ** (e / 4), 4) for e in range(-4, 21)]


@dataclass
class Result:
    clients: int
    rate: float | None
    logins: int
    accepted: int
    errors: int
    seconds: float
    per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    histogram: list[tuple[float, int]] = field(default_factory=list)  # (upper ms, count)
    first_error: str | None = None

    def figures(self, prefix: str) -> dict[str, Any]:
        """The headline numbers as flat bench figures."""
        keep = ("logins", "accepted", "errors", "per_s", "p50_ms", "p99_ms", "max_ms")
        out = {f"{prefix}.{k}": v for k, v in asdict(self).items() if k in keep}
        if self.first_error:
            out[f"{prefix}.first_error"] = self.first_error
        return out


def percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_ms:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_ms)))
    return sorted_ms[min(rank, len(sorted_ms)) - 1]


def histogram(sorted_ms: list[float]) -> list[tuple[float, int]]:
    out, i = [], 0
    for upper in BUCKETS_MS:
        n = 0
        while i < len(sorted_ms) and sorted_ms[i] <= upper:
            n += 1
            i += 1
        if n:
            out.append((upper, n))
    if i < len(sorted_ms):
        out.append((math.inf, len(sorted_ms) - i))
    return out


def run(make_login: Callable[[int], Login], clients: int, *, max_logins: int,
        max_seconds: float, warmup: int = 0, rate: float | None = None) -> Result:
    """Run `clients` threads, client i repeating `make_login(i)()`, until `max_logins` logins
    in all or `max_seconds`, whichever comes first (a login under way then finishes).
    `warmup` logins per client run first and are not counted.

    Without `rate` each client starts its next login as soon as the last one ends (the peak
    rate). With `rate` (logins/s in all) logins start on a fixed schedule, spread over the
    clients, and a login's latency runs from its scheduled start: a late start counts as
    waiting (no coordinated omission)."""
    if clients < 1 or max_logins < 1 or max_seconds <= 0 or (rate is not None and rate <= 0):
        raise ValueError("clients, max_logins, max_seconds and rate must be positive")
    logins = [make_login(i) for i in range(clients)]
    for login in logins:
        for _ in range(warmup):
            login()
    lock = threading.Lock()
    latencies: list[float] = []
    counts = {"started": 0, "accepted": 0, "errors": 0}
    errors: list[str] = []
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    interval = clients / rate if rate else 0.0  # each client's time between starts

    def client(index: int, login: Login) -> None:
        start.wait()
        due = deadline[0] - max_seconds + interval * index / clients
        while True:
            if interval:
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            with lock:
                if counts["started"] >= max_logins or time.perf_counter() >= deadline[0]:
                    return
                counts["started"] += 1
            t = due if interval else time.perf_counter()
            due += interval
            try:
                ok = login()
                err = None
            except Exception as e:  # a failed login is counted, not fatal
                ok, err = False, f"{type(e).__name__}: {e}"
            ms = (time.perf_counter() - t) * 1000
            with lock:
                latencies.append(ms)
                if ok:
                    counts["accepted"] += 1
                elif err is not None:
                    counts["errors"] += 1
                    errors.append(err)

    threads = [threading.Thread(target=client, args=(i, lg), daemon=True)
               for i, lg in enumerate(logins)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + max_seconds
    start.wait()
    for t in threads:
        t.join(max_seconds + 120)
    seconds = time.perf_counter() - t0
    ms = sorted(latencies)
    return Result(clients=clients, rate=rate, logins=len(ms), accepted=counts["accepted"],
                  errors=counts["errors"], seconds=round(seconds, 3),
                  per_s=round(len(ms) / seconds, 1) if seconds else 0.0,
                  p50_ms=round(percentile(ms, 50), 2), p90_ms=round(percentile(ms, 90), 2),
                  p99_ms=round(percentile(ms, 99), 2), max_ms=round(ms[-1], 2) if ms else 0.0,
                  histogram=histogram(ms), first_error=errors[0][:200] if errors else None)
