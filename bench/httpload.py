"""A small, bounded load generator: N concurrent clients, each repeating one "login" (a callable
that makes its requests and says whether the login was accepted), until a total count or a time
limit is reached, whichever comes first. It measures logins/s and the latency of each whole login
(p50/p90/p99/max and a log-spaced histogram).

It knows nothing of privacyIDEA or OpenDSC: bench_privacyidea.py gives it logins through
`/validate/triggerchallenge` + `/validate/check`, and through `dsc serve`'s `/v1/challenges`,
or straight through the registry library. `Http` is a keep-alive JSON client for loopback
servers: it never resends a request (a POST that may have reached the server is not retried: a
resent login would count twice); it reconnects only when the server said it closes.
"""

from __future__ import annotations

import http.client
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


class _Connection(http.client.HTTPConnection):
    """Without Nagle's algorithm: http.client writes the headers and the body in two sends, and
    the body would wait for the server's delayed ACK of the headers (~40 ms a request)."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Http:
    """One keep-alive connection to a loopback HTTP server, JSON (or form) in, JSON out."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._conn: _Connection | None = None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                headers: dict[str, str] | None = None, form: bool = False) -> tuple[int, Any]:
        send = dict(headers or {})
        data: bytes | None = None
        if body is not None:
            if form:
                data = urlencode(body).encode()
                send["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                send["Content-Type"] = "application/json"
        if self._conn is None:
            self._conn = _Connection(self.host, self.port, timeout=self.timeout)
        conn = self._conn
        try:
            conn.request(method, path, body=data, headers=send)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise HttpError(f"{method} {path}: {type(e).__name__}: {e}") from None
        if resp.will_close:
            self.close()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            raise HttpError(f"{method} {path}: HTTP {resp.status}, not JSON") from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


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
