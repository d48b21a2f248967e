"""OpenDSC side by side with privacyIDEA: challenge-response logins per second, p50/p99 latency.

privacyIDEA (pinned, with every dependency, in bench/privacyidea-requirements.txt) is installed
from PyPI by this bench into its own virtualenv under the cache directory (`.cache/bench/` in
the worktree, gitignored; `DSC_BENCH_CACHE` moves it), once: a second `make bench` reuses it.
Each run sets up a fresh instance in a temporary directory: pi.cfg, encryption key, audit
signing keys, tables, an admin, a flat-file user resolver and realm, one HOTP token per user,
and runs it under gunicorn (sync workers) on 127.0.0.1. A login is what a login server does
with it: `POST /validate/triggerchallenge` (as the admin) for the user, then
`POST /validate/check` with the user's HOTP value and the transaction id. Both on SQLite and,
when the bench's PostgreSQL server runs (`DSC_TEST_PG_URL`), on a database of its own there.

OpenDSC is measured the same way, by the same load generator (bench/httpload.py): over HTTP
through `dsc serve` (`POST /v1/challenges`, `POST /v1/challenges/{id}/response`, a bearer token
from `dsc api-client add`) when this `dsc` has the `serve` command, skipped cleanly when it does
not; and always straight through the registry library (`issue_challenge` + `verify`, no HTTP),
the floor the service adds its HTTP cost to. Ratios are OpenDSC's rate over privacyIDEA's.
Everything is bounded: `CLIENTS` concurrent clients, at most `MAX_LOGINS` logins or
`MAX_SECONDS` per measurement.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import httpload
from bench.bench_registry import pg_database, raise_caps

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = Path(__file__).resolve().parent / "privacyidea-requirements.txt"
PI_VERSION = "3.11.4"
CLIENTS = 4
MAX_LOGINS = 300
MAX_SECONDS = 15.0
USERS = CLIENTS
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
PG_WORKERS = 2         # gunicorn workers on PostgreSQL (SQLite: 1, it has one writer anyway)


def cache_dir() -> Path:
    return Path(os.environ.get("DSC_BENCH_CACHE") or ROOT / ".cache" / "bench")


# --- the privacyIDEA virtualenv -----------------------------------------------------------------
def ensure_venv() -> Path:
    """The cached virtualenv with the pinned privacyIDEA and gunicorn; built when missing or
    when the pins changed. Returns its bin directory."""
    pins = REQUIREMENTS.read_bytes()
    stamp_value = hashlib.sha256(pins).hexdigest()
    venv = cache_dir() / f"privacyidea-{PI_VERSION}"
    stamp = venv / ".opendsc-pins"
    bindir = venv / "bin"
    if stamp.exists() and stamp.read_text() == stamp_value and (bindir / "gunicorn").exists():
        return bindir
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    print(f"  installing privacyIDEA {PI_VERSION} into {venv} (once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    log = venv / "pip.log"
    with log.open("wb") as out:
        done = subprocess.run([str(bindir / "pip"), "install", "--no-deps", "-r",
                               str(REQUIREMENTS)], stdout=out, stderr=out, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"installing privacyIDEA failed: see {log}")
    stamp.write_text(stamp_value)
    return bindir


# --- one privacyIDEA instance -------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def hotp(key: bytes, counter: int, digits: int = 6) -> str:
    """RFC 4226 HOTP (what the user's token shows)."""
    d = hmac.digest(key, counter.to_bytes(8, "big"), "sha1")
    o = d[-1] & 0xF
    code = int.from_bytes(d[o:o + 4], "big") & 0x7FFFFFFF
    return str(code % 10 ** digits).zfill(digits)


class PrivacyIdea:
    """A set-up privacyIDEA under gunicorn on 127.0.0.1, with users and their HOTP keys."""

    def __init__(self, bindir: Path, workdir: Path, db_uri: str, workers: int) -> None:
        self.bindir, self.dir, self.workers = bindir, workdir, workers
        self.port = _free_port()
        self.admin_password = secrets.token_urlsafe(16)
        self.keys: dict[str, bytes] = {}
        self.counters: dict[str, int] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""
        cfg = workdir / "pi.cfg"
        cfg.write_text("\n".join([
            f"SQLALCHEMY_DATABASE_URI = {db_uri!r}",
            f"SECRET_KEY = {secrets.token_hex(24)!r}",
            f"PI_PEPPER = {secrets.token_hex(24)!r}",
            f"PI_ENCFILE = {str(workdir / 'enckey')!r}",
            f"PI_AUDIT_KEY_PRIVATE = {str(workdir / 'private.pem')!r}",
            f"PI_AUDIT_KEY_PUBLIC = {str(workdir / 'public.pem')!r}",
            f"PI_LOGFILE = {str(workdir / 'privacyidea.log')!r}",
            "PI_LOGLEVEL = 30",
            "",
        ]))
        (workdir / "pi_wsgi.py").write_text(
            "from privacyidea.app import create_app\n"
            f"application = create_app(config_name='production', config_file={str(cfg)!r}, "
            "silent=True)\n")
        self.env = {**os.environ, "PRIVACYIDEA_CONFIGFILE": str(cfg)}
        self.env.pop("PYTHONPATH", None)

    def _manage(self, *args: str, stdin: str | None = None) -> None:
        subprocess.run([str(self.bindir / "pi-manage"), *args], env=self.env, cwd=self.dir,
                       input=stdin.encode() if stdin else None, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)

    def setup(self) -> None:
        self._manage("setup", "create_enckey")
        self._manage("setup", "create_audit_keys")
        self._manage("setup", "create_tables")
        # the password goes in on stdin (the prompt), not on the command line
        self._manage("admin", "add", "admin",
                     stdin=f"{self.admin_password}\n{self.admin_password}\n")

    def start(self) -> None:
        log = (self.dir / "gunicorn.log").open("wb")
        self.proc = subprocess.Popen(
            [str(self.bindir / "gunicorn"), "--chdir", str(self.dir), "--bind",
             f"127.0.0.1:{self.port}", "--workers", str(self.workers), "--timeout", "120",
             "pi_wsgi:application"], env=self.env, cwd=self.dir, stdout=log, stderr=log)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {self.dir / 'gunicorn.log'}")
            try:
                status, body = self.http().request(
                    "POST", "/auth", {"username": "admin", "password": self.admin_password})
            except httpload.HttpError:
                time.sleep(0.3)
                continue
            if status == 200:
                self.token = body["result"]["value"]["token"]
                return
            raise RuntimeError(f"privacyIDEA /auth answered {status}: {body}")
        raise RuntimeError("privacyIDEA did not come up within 120 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def http(self) -> httpload.Http:
        return httpload.Http("127.0.0.1", self.port)

    def admin(self, conn: httpload.Http, method: str, path: str,
              body: dict[str, Any]) -> Any:
        status, answer = conn.request(method, path, body,
                                      headers={"Authorization": self.token})
        if status != 200 or not answer.get("result", {}).get("status"):
            raise RuntimeError(f"privacyIDEA {method} {path}: {status} {answer}")
        return answer

    def enrol(self, users: list[str]) -> None:
        """A flat-file resolver with the users, a realm, and one HOTP token each."""
        passwd = self.dir / "users.passwd"
        passwd.write_text("".join(f"{u}:x:{1000 + i}:{1000 + i}:{u}:/home/{u}:/bin/false\n"
                                  for i, u in enumerate(users)))
        conn = self.http()
        self.admin(conn, "POST", "/resolver/benchusers",
                   {"type": "passwdresolver", "fileName": str(passwd)})
        self.admin(conn, "POST", "/realm/bench", {"resolvers": "benchusers"})
        self.admin(conn, "POST", "/defaultrealm/bench", {})
        for u in users:
            key = secrets.token_bytes(20)
            self.admin(conn, "POST", "/token/init",
                       {"type": "hotp", "otpkey": key.hex(), "genkey": 0, "otplen": 6,
                        "serial": f"HOTP-{u}", "user": u, "realm": "bench"})
            self.keys[u], self.counters[u] = key, 0
        conn.close()

    def login_for(self, user: str) -> httpload.Login:
        conn = self.http()
        auth = {"Authorization": self.token}

        def login() -> bool:
            status, body = conn.request("POST", "/validate/triggerchallenge",
                                        {"user": user, "realm": "bench"}, headers=auth)
            if status != 200:
                raise httpload.HttpError(f"triggerchallenge: HTTP {status}")
            tid = body["detail"]["transaction_id"]
            otp = hotp(self.keys[user], self.counters[user])
            status, body = conn.request("POST", "/validate/check",
                                        {"user": user, "realm": "bench", "pass": otp,
                                         "transaction_id": tid})
            ok = status == 200 and body["result"]["value"] is True
            if ok:
                self.counters[user] += 1
            return ok

        return login


@contextlib.contextmanager
def privacyidea(bindir: Path, db_uri: str, workers: int) -> Iterator[PrivacyIdea]:
    with tempfile.TemporaryDirectory(prefix="pi-bench-") as d:
        pi = PrivacyIdea(bindir, Path(d), db_uri, workers)
        pi.setup()
        pi.start()
        try:
            pi.enrol([f"user{i}" for i in range(USERS)])
            yield pi
        finally:
            pi.stop()


def measure_privacyidea(pi: PrivacyIdea) -> httpload.Result:
    users = sorted(pi.keys)
    return httpload.run(lambda i: pi.login_for(users[i % len(users)]), CLIENTS,
                        max_logins=MAX_LOGINS, max_seconds=MAX_SECONDS, warmup=1)


# --- OpenDSC ------------------------------------------------------------------------------------
def _opendsc_registry(url: str, key_file: Path) -> tuple[Any, dict[str, bytes]]:
    from provisioning import support
    from provisioning.registry import Registry

    reg, _, _ = Registry.init(url, key_file, operator="bench")
    raise_caps(reg)
    seeds = {}
    for i in range(USERS):
        serial = reg.allocate_serial(SUITE)
        seeds[f"user{i}"] = secrets.token_bytes(32)
        reg.confirm_provisioned(serial, seed=seeds[f"user{i}"], admin_key=secrets.token_bytes(32),
                                suite=SUITE)
        support.assign(reg, serial, f"user{i}", "1234")
        support.activate(reg, serial)
    return reg, seeds


def measure_opendsc_library(url: str, key_file: Path) -> httpload.Result:
    """Logins straight through the registry library: one registry connection per client."""
    from dsc import ocra

    from provisioning import verification
    from provisioning.registry import Registry

    setup, seeds = _opendsc_registry(url, key_file)
    setup.close()
    opened: list[Any] = []

    def make(i: int) -> httpload.Login:
        reg = Registry.open(url, key_file, operator=f"client{i}")
        opened.append(reg)
        user = f"user{i % USERS}"

        def login() -> bool:
            ch = verification.issue_challenge(reg, user)
            resp = ocra.response(SUITE, seeds[user], ch.challenge, pin="1234")
            return bool(verification.verify(reg, user, ch.id, resp).accepted)

        return login

    try:
        return httpload.run(make, CLIENTS, max_logins=MAX_LOGINS * 10,
                            max_seconds=MAX_SECONDS / 3, warmup=1)
    finally:
        for reg in opened:
            reg.close()


def dsc_command() -> Path:
    """The `dsc` to serve with: this checkout's, or `DSC_BENCH_DSC`."""
    return Path(os.environ.get("DSC_BENCH_DSC") or ROOT / ".venv" / "bin" / "dsc")


def dsc_serve_available() -> bool:
    dsc = dsc_command()
    if not dsc.exists():
        return False
    probe = subprocess.run([str(dsc), "serve", "--help"], capture_output=True, timeout=60)
    return probe.returncode == 0


Measured = httpload.Result | str | dict[str, httpload.Result]


def measure_opendsc_http(url: str, key_file: Path, workers: int = 1) -> Measured:
    """Logins through `dsc serve` over HTTP, at the peak and again paced at half the peak
    (the latency a service should keep with headroom); a reason string when this `dsc`
    cannot serve.

    The API (issue 10): `dsc api-client add NAME --scope verify` prints a bearer token once;
    `POST /v1/challenges {user}` -> {id, challenge, ...}; `POST /v1/challenges/{id}/response
    {response}` -> {status: accepted|rejected, ...}."""
    if not dsc_serve_available():
        return "skipped (this dsc has no serve command)"
    from dsc import ocra

    setup, seeds = _opendsc_registry(url, key_file)
    setup.close()
    dsc = str(dsc_command())
    env = {**os.environ, "DSC_DB": url, "DSC_MASTER_KEY_FILE": str(key_file)}
    made = subprocess.run([dsc, "api-client", "add", "bench", "--scope", "verify", "--json"],
                          env=env, capture_output=True, text=True, timeout=60, check=True)
    token = json.loads(made.stdout)["token"]
    port = _free_port()
    args = [dsc, "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        args += ["--workers", str(workers)]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)
        try:
            _wait_healthy(port, proc)
            auth = {"Authorization": f"Bearer {token}"}

            def make(i: int) -> httpload.Login:
                conn = httpload.Http("127.0.0.1", port)
                user = f"user{i % USERS}"

                def login() -> bool:
                    status, ch = conn.request("POST", "/v1/challenges", {"user": user},
                                              headers=auth)
                    if status not in (200, 201):
                        raise httpload.HttpError(f"/v1/challenges: HTTP {status}")
                    resp = ocra.response(SUITE, seeds[user], ch["challenge"], pin="1234")
                    status, out = conn.request("POST", f"/v1/challenges/{ch['id']}/response",
                                               {"response": resp}, headers=auth)
                    return status == 200 and out.get("status") == "accepted"

                return login

            peak = httpload.run(make, CLIENTS, max_logins=MAX_LOGINS * 10,
                                max_seconds=MAX_SECONDS / 3, warmup=1)
            half = httpload.run(make, CLIENTS, max_logins=MAX_LOGINS * 10,
                                max_seconds=MAX_SECONDS / 3, rate=max(peak.per_s / 2, 1.0))
            return {"": peak, "_at_half_peak": half}
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("dsc serve exited during start-up")
        try:
            status, _ = httpload.Http("127.0.0.1", port, timeout=5).request("GET", "/healthz")
            if status == 200:
                return
        except httpload.HttpError:
            pass
        time.sleep(0.2)
    raise RuntimeError("dsc serve did not answer /healthz within 60 s")


# --- the side-by-side run -----------------------------------------------------------------------
def _side(figures: dict[str, Any], name: str, pi: httpload.Result,
          measures: dict[str, Callable[[], Measured]]) -> None:
    figures.update(pi.figures(f"{name}.privacyidea"))
    for label, measure in measures.items():
        got = measure()
        if isinstance(got, str):
            figures[f"{name}.{label}"] = got
            continue
        runs = got if isinstance(got, dict) else {"": got}
        for suffix, result in runs.items():
            figures.update(result.figures(f"{name}.{label}{suffix}"))
        if pi.per_s:
            figures[f"{name}.{label}_vs_privacyidea"] = round(runs[""].per_s / pi.per_s, 1)


def main() -> dict[str, Any]:
    figures: dict[str, Any] = {"clients": CLIENTS, "privacyidea_version": PI_VERSION,
                               "login": "challenge, then response (HOTP for privacyIDEA, "
                                        "OCRA for OpenDSC)"}
    t = time.perf_counter()
    bindir = ensure_venv()
    figures["privacyidea_venv_ready_s"] = round(time.perf_counter() - t, 1)
    with tempfile.TemporaryDirectory(prefix="dsc-side-") as d:
        tmp = Path(d)
        with privacyidea(bindir, f"sqlite:///{tmp / 'pi.sqlite'}", 1) as pi:
            pi_sqlite = measure_privacyidea(pi)
        sq = str(tmp / "dsc.sqlite3")
        _side(figures, "sqlite", pi_sqlite, {
            "opendsc_library": lambda: measure_opendsc_library(sq, tmp / "lib.key"),
            "opendsc_http": lambda: measure_opendsc_http(str(tmp / "http.sqlite3"),
                                                         tmp / "http.key"),
        })
        base = os.environ.get("DSC_TEST_PG_URL")
        if not base:
            figures["postgres"] = "skipped (DSC_TEST_PG_URL unset)"
            return figures
        with pg_database(base, "pi_bench") as pi_url:
            pi_uri = pi_url.replace("postgresql://", "postgresql+psycopg2://", 1)
            with privacyidea(bindir, pi_uri, PG_WORKERS) as pi:
                pi_pg = measure_privacyidea(pi)
        with pg_database(base) as lib_url, pg_database(base) as http_url, \
                pg_database(base) as http2_url:
            _side(figures, "postgres", pi_pg, {
                "opendsc_library": lambda: measure_opendsc_library(lib_url, tmp / "pglib.key"),
                "opendsc_http": lambda: measure_opendsc_http(http_url, tmp / "pghttp.key"),
                "opendsc_http_2_workers": lambda: measure_opendsc_http(
                    http2_url, tmp / "pghttp2.key", workers=2),
            })
    figures["note"] = (f"{CLIENTS} concurrent clients, at most {MAX_LOGINS} privacyIDEA logins "
                       f"or {MAX_SECONDS:.0f} s; privacyIDEA under gunicorn (sync workers: 1 on "
                       f"SQLite, {PG_WORKERS} on PostgreSQL); latency is the whole login "
                       f"(both requests)")
    return figures


if __name__ == "__main__":
    for k, v in main().items():
        print(f"{k}: {v}")
