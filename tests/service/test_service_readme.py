"""The README's curl session, step by step: an emulated card provisioned and assigned with the
CLI, `dsc serve` on a socket, curl with the token in a header file, the response typed on the
card's keypad, accepted."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from serverkit import Server

from emulator import Emulator
from host_tools import admin_keys
from host_tools.cli import main

pytestmark = pytest.mark.slow


def test_readme_curl_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    db, key = str(tmp_path / "registry.sqlite3"), tmp_path / "master.key"
    monkeypatch.setenv("DSC_DB", db)
    monkeypatch.setenv("DSC_MASTER_KEY_FILE", str(key))
    admin_keys.new_master_key_file(tmp_path / "admin.key")
    monkeypatch.setenv("DSC_ADMIN_MASTER_KEY_FILE", str(tmp_path / "admin.key"))
    with Emulator(serial="pty") as card:
        assert main(["registry", "init"]) == 0
        assert main(["provision", "--port", card.serial_url]) == 0
        monkeypatch.setattr("sys.stdin", io.StringIO("1234\n"))
        assert main(["assign", "DSC00000001", "alice", "--pin-stdin"]) == 0
        capsys.readouterr()
        assert main(["api-client", "add", "bank", "--scope", "verify"]) == 0
        header = tmp_path / "bank.header"
        header.write_text("Authorization: Bearer " + capsys.readouterr().out)
        header.chmod(0o600)
        server = Server(db, key)
        try:
            def curl_json(body: str, path: str) -> dict:  # type: ignore[type-arg]
                out = subprocess.run([curl, "-s", "-H", f"@{header}", "--json", body,
                                      server.url + path], capture_output=True, text=True,
                                     timeout=30, check=True).stdout
                return dict(json.loads(out))

            ch = curl_json('{"user": "alice"}', "/v1/challenges")
            assert ch["serial_number"] == "DSC00000001"
            shown = card.respond("1234", ch["challenge"])
            assert len(shown) == 9 and shown[4] == " "          # "7309 1486"
            answer = curl_json(json.dumps({"response": shown}),
                               f"/v1/challenges/{ch['id']}/response")
            assert (answer["status"], answer["accepted"], answer["method"],
                    answer["access"]) == ("accepted", True, "card", "full")
        finally:
            output = server.stop()
        assert header.read_text().split()[-1] not in output
