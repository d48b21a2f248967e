"""The vector files stand in the project (a fresh clone has nothing beside it) and stay true."""

from __future__ import annotations

import subprocess
import sys

from mpvm import ROOT, VECTORS, load_vectors


def test_rfc_vectors_name_their_source() -> None:
    data = load_vectors("rfc6287.json")
    assert data["source"].startswith("RFC 6287")
    assert "Appendix C" in data["source"]
    assert len(data["vectors"]) == 50


def test_extra_vectors_are_what_the_reference_computes() -> None:
    proc = subprocess.run([sys.executable, str(VECTORS / "gen_extra.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert len(load_vectors("ocra-extra.json")["vectors"]) == 6


def test_nothing_reads_outside_the_project() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    outside = ("..", "/shared")  # spelled in two parts so that this file does not name it
    offenders = []
    for name in tracked:
        if name.endswith((".md", ".json", ".png")):
            continue
        path = ROOT / name
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        if "".join(outside) in text or outside[1][1:] + "/vectors" in text:
            offenders.append(name)
    assert offenders == [], offenders
