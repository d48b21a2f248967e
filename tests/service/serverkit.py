"""`dsc serve` as a real process on 127.0.0.1 (a free port), for the socket and fault tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, db: str, key_file: Path, *extra: str, workers: int = 1,
                 scheme: str = "http", verify: object = True, access_log: bool = False) -> None:
        self.port = free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.verify = verify
        env = {**os.environ, "DSC_OPERATOR": "test"}
        cmd = [sys.executable, "-m", "host_tools", "serve", "--db", db, "--master-key-file",
               str(key_file), "--port", str(self.port), "--workers", str(workers),
               *([] if access_log else ["--no-access-log"]), *extra]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.wait_ready()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dsc serve exited: {self.proc.stdout.read()}")  # type: ignore[union-attr]
            try:
                r = httpx.get(self.url + "/readyz", timeout=1.0,
                              verify=self.verify)  # type: ignore[arg-type]
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("dsc serve did not become ready")

    def workers(self) -> list[int]:
        """The worker processes' ids (children of the uvicorn supervisor)."""
        pids: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            for pid in (task / "children").read_text().split():
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue
                # multiprocessing's spawned workers, not its resource tracker; not zombies
                if b"spawn_main" in cmdline and state != "Z":
                    pids.append(int(pid))
        return pids

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.stdout.read() if self.proc.stdout else ""  # type: ignore[union-attr]
