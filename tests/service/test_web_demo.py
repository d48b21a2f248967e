"""`make demo-web` starts the service with emulated cards and prints working URLs."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_web_prints_urls_that_answer() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen([sys.executable, "-m", "host_tools.web.demo", "--port", str(port),
                             "--seconds", "8"], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        console = proc.stdout.readline().split()[1]
        portal = proc.stdout.readline().split()[1]
        assert console == f"http://127.0.0.1:{port}/console"
        with urllib.request.urlopen(console + "/login", timeout=5) as r:
            assert r.status == 200 and b"Operator sign-in" in r.read()
        with urllib.request.urlopen(portal, timeout=5) as r:
            assert r.status == 200 and b"security device" in r.read()
        proc.stdout.readline()
        proc.stdin.write("holder 123456\n")
        proc.stdin.flush()
        shown = proc.stdout.readline()
        assert shown.startswith("holder card shows: ") and shown[19:].replace(" ", "").strip() \
            .isdigit()
    finally:
        proc.wait(20)
    assert proc.returncode == 0
