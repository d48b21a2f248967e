"""Prometheus text exposition (format 0.0.4), kept by hand: a few counters and one histogram.

Labels are bounded sets only: the route *template* (never the path, which names users and
challenges), the method, the status code, and the outcome and reason of verifications. No user
name, token, response or PIN ever becomes a label. Each worker process keeps its own figures.
"""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.outcomes: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.problems: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self._hist: dict[str, list[int]] = {}
        self._sum: dict[str, float] = defaultdict(float)
        self._count: dict[str, int] = defaultdict(int)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(("method", method), ("route", route), ("status", str(status)))] += 1
            counts = self._hist.setdefault(route, [0] * len(BUCKETS))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            self._sum[route] += seconds
            self._count[route] += 1

    def outcome(self, purpose: str, status: str, reason: str | None) -> None:
        with self._lock:
            self.outcomes[(("purpose", purpose), ("status", status),
                           ("reason", reason or ""))] += 1

    def problem(self, reason: str) -> None:
        with self._lock:
            self.problems[(("reason", reason),)] += 1

    def render(self) -> str:
        out: list[str] = []
        with self._lock:
            for name, help_text, data in (
                    ("dsc_http_requests_total", "HTTP requests by route template and status",
                     self.requests),
                    ("dsc_verifications_total", "Answers to responses by purpose, status and "
                     "reason", self.outcomes),
                    ("dsc_problems_total", "Problem documents returned, by reason",
                     self.problems)):
                out += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
                out += [f"{name}{_labels(k)} {v}" for k, v in sorted(data.items())]
            name = "dsc_http_request_duration_seconds"
            out += [f"# HELP {name} Time from request to response, by route template",
                    f"# TYPE {name} histogram"]
            for route in sorted(self._hist):
                r = (("route", route),)
                for bound, count in zip(BUCKETS, self._hist[route], strict=True):
                    out.append(f"{name}_bucket{_labels((*r, ('le', repr(bound))))} {count}")
                out.append(f"{name}_bucket{_labels((*r, ('le', '+Inf')))} {self._count[route]}")
                out.append(f"{name}_sum{_labels(r)} {self._sum[route]:.6f}")
                out.append(f"{name}_count{_labels(r)} {self._count[route]}")
        return "\n".join(out) + "\n"
