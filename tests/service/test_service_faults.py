"""Faults under load on PostgreSQL (`dsc serve --workers 2`): a worker killed with SIGKILL in
the middle of verifications, then the database restarted. Callers get 503 problem documents
(or, from the killed worker, a dropped connection) and retry the same challenge; nothing is
accepted twice, no failure is lost, and the service recovers by itself.

Bounded: 6 client threads, about 8 seconds of load, on the PostgreSQL server of
DSC_TEST_PG_URL's port (scripts/postgres.sh's server,
restarted with pg_ctl)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dsc import ocra
from regkit import SUITE
from serverkit import Server

from provisioning import apiclients, audit, support
from provisioning.registry import Registry

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
SEED = b"\x11" * 32


def _data_dir() -> Path | None:
    """The test server's data directory (scripts/postgres.sh), if it is ours to restart."""
    from urllib.parse import urlparse

    port = os.environ.get("DSC_TEST_PG_PORT") or str(
        urlparse(os.environ.get("DSC_TEST_PG_URL", "")).port or "")
    if not port:
        return None
    data = Path(os.environ.get("DSC_TEST_PG_DIR", f"/tmp/opendsc-pg-{port}")) / "data"
    return data if (data / "postmaster.pid").exists() else None


def _restart_postgres(data: Path) -> None:
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    cmd = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "restart"]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def pg_served(pg_url: str, tmp_path: Path) -> Iterator[tuple[Server, str, str]]:
    if _data_dir() is None:
        pytest.skip("needs the test server of scripts/postgres.sh (this test restarts it)")
    key = tmp_path / "master.key"
    with Registry.init(pg_url, key, operator="tester")[0] as reg:
        reg.set_policy("challenge_rate", 10_000)  # load at a few users: caps at their bounds
        reg.set_policy("max_open_challenges", 1000)
        for user in ("alice", "bob"):
            serial = reg.allocate_serial(SUITE)
            reg.confirm_provisioned(serial, seed=SEED, admin_key=None, suite=SUITE)
            support.assign(reg, serial, user, "1234")
            support.activate(reg, serial)
        reg.set_policy("max_failures", 100)  # at its bound: bob's paced failures stay below it
        token = apiclients.add(reg, "bank", "verify")
    server = Server(pg_url, key, workers=2)
    try:
        yield server, token, pg_url
    finally:
        output = server.stop()
        assert token not in output


class Caller:
    """One login server thread: alice answers right, bob wrong; a challenge is retried until
    its answer is definite (accepted/rejected), across 503s and dropped connections."""

    def __init__(self, server: Server, token: str, user: str, stop: threading.Event) -> None:
        self.server, self.user, self.stop = server, user, stop
        self.http = httpx.Client(base_url=server.url, timeout=10,
                                 headers={"Authorization": f"Bearer {token}"})
        self.final: dict[str, str] = {}           # challenge id -> final status/reason
        self.uncertain: set[str] = set()           # ids with an attempt of unknown fate
        self.unavailable: Counter[str] = Counter() # reasons of 503s seen
        self.dropped = 0

    def _post(self, path: str, body: dict) -> httpx.Response | None:  # type: ignore[type-arg]
        try:
            r = self.http.post(path, json=body)
        except httpx.TransportError:
            self.dropped += 1
            return None
        if r.status_code == 503:
            assert r.headers["content-type"].startswith("application/problem+json")
            self.unavailable[r.json()["reason"]] += 1
            return None
        return r

    def run(self) -> None:
        deadline = time.monotonic() + 25
        while not self.stop.is_set() and time.monotonic() < deadline:
            r = self._post("/v1/challenges", {"user": self.user})
            if r is None:
                time.sleep(0.02)
                continue
            assert r.status_code == 201, r.text
            ch = r.json()
            if self.user == "bob":  # paced and capped: 3 callers stay under the lock at 100
                time.sleep(0.25)
            response = (str(ocra.response(SUITE, SEED, ch["challenge"], pin="1234"))
                        if self.user == "alice" else "00000000")
            while time.monotonic() < deadline:
                r = self._post(f"/v1/challenges/{ch['id']}/response", {"response": response})
                if r is None:
                    self.uncertain.add(ch["id"])
                    time.sleep(0.02)
                    continue
                body = r.json()
                assert r.status_code == 200, body
                self.final[ch["id"]] = body["reason"] or body["status"]
                break
            if self.user == "bob" and len(self.final) >= 30:
                return


def test_sigkill_and_postgres_restart_under_load(pg_served: tuple[Server, str, str]) -> None:
    server, token, url = pg_served
    stop = threading.Event()
    callers = [Caller(server, token, user, stop) for user in ("alice", "bob") * 3]
    threads = [threading.Thread(target=c.run) for c in callers]
    for t in threads:
        t.start()
    time.sleep(1.5)
    victim = server.workers()[0]
    os.kill(victim, signal.SIGKILL)
    time.sleep(2.0)
    data = _data_dir()
    assert data is not None
    _restart_postgres(data)
    time.sleep(3.0)
    stop.set()
    for t in threads:
        t.join(40)
    assert not any(t.is_alive() for t in threads)

    unavailable = sum((c.unavailable for c in callers), Counter())
    assert unavailable and set(unavailable) == {"registry-unavailable"}
    alice = [c for c in callers if c.user == "alice"]
    bob = [c for c in callers if c.user == "bob"]
    # Nothing accepted twice: every alice challenge ends accepted, or already-used only when
    # an earlier attempt's fate was unknown (it was accepted then).
    for c in alice:
        for cid, result in c.final.items():
            assert result == "accepted" or (result == "already-used" and cid in c.uncertain)
    # No failure lost: bob's definite wrong answers, plus those whose retry found the challenge
    # used (the lost attempt was counted), are exactly the failures recorded.
    counted = sum(1 for c in bob for r in c.final.values() if r in ("wrong-response",
                                                                    "already-used"))
    assert all(r in ("wrong-response", "already-used") for c in bob for r in c.final.values())
    assert counted > 20
    with Registry.open(url, server_key(server)) as reg:
        assert support.user_view(reg, "bob")["failures"] == counted
        accepted = [e.detail["challenge"] for e in audit.entries(reg.db, user="alice",
                                                                  action="verify")
                    if e.outcome == "accepted"]
        assert len(accepted) == len(set(accepted))
        assert len(accepted) == sum(len(c.final) for c in alice)
        audit.verify(reg.db, reg.sealer)
    # It resumed by itself: ready, a fresh worker in place of the killed one, logins work.
    server.wait_ready(10)
    assert victim not in server.workers() and len(server.workers()) == 2
    again = Caller(server, token, "alice", threading.Event())
    again.stop.set()
    r = again._post("/v1/challenges", {"user": "alice"})
    assert r is not None and r.status_code == 201


def server_key(server: Server) -> Path:
    args = server.proc.args
    assert isinstance(args, list)
    return Path(args[args.index("--master-key-file") + 1])
