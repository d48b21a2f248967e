"""The support desk at the command line: `dsc` run in-process on a registry of its own (in the
test's tmp_path, found through DSC_DB and DSC_MASTER_KEY_FILE), with what it printed. Used by
the support CLI tests (no card) and the end-to-end test with emulated cards."""

from __future__ import annotations

import io
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from host_tools.cli import main
from provisioning.registry import Registry

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"


class Desk:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                 tmp_path: Path, *, init: bool = True) -> None:
        """`init`: run `dsc registry init` now (else the test does, to see what it says)."""
        self.mp, self.capsys, self.tmp = monkeypatch, capsys, tmp_path
        self.db, self.key = str(tmp_path / "registry.sqlite3"), tmp_path / "master.key"
        monkeypatch.setenv("DSC_DB", self.db)
        monkeypatch.setenv("DSC_MASTER_KEY_FILE", str(self.key))
        monkeypatch.setenv("DSC_OPERATOR", "desk")
        self.seeds: dict[str, bytes] = {}
        if init:
            assert self.run("registry", "init")[0] == 0

    def with_admin_key(self) -> Desk:
        """A master admin key file of its own (DSC_ADMIN_MASTER_KEY_FILE), for `dsc provision`."""
        from host_tools import admin_keys

        admin_keys.new_master_key_file(self.tmp / "admin.key")
        self.mp.setenv("DSC_ADMIN_MASTER_KEY_FILE", str(self.tmp / "admin.key"))
        return self

    def run(self, *argv: str, stdin: str = "") -> tuple[int, str, str]:
        """(exit status, stdout, stderr) of `dsc ARGV` with `stdin`."""
        self.capsys.readouterr()
        self.mp.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *argv: str, stdin: str = "") -> Any:
        """What `dsc ARGV --json` printed, which must have succeeded."""
        code, out, err = self.run(*argv, "--json", stdin=stdin)
        assert code == 0, err
        return json.loads(out)

    def registry(self) -> Registry:
        return Registry.open(self.db, self.key, operator="test")

    def card(self, pin_len: int = 4) -> str:
        """A card in stock, recorded straight in the registry with a seed the test knows."""
        with self.registry() as reg:
            serial = reg.allocate_serial(SUITE, pin_len=pin_len)
            seed = secrets.token_bytes(32)
            reg.confirm_provisioned(serial, seed=seed, admin_key=b"A" * 32, suite=SUITE,
                                    pin_len=pin_len)
        self.seeds[serial] = seed
        return serial

    def active(self, user: str = "alice", pin: str = "1234") -> str:
        serial = self.card()
        self.json("assign", serial, user, "--pin-stdin", stdin=pin + "\n")
        self.json("activate", serial)
        return serial

    def status(self, serial: str) -> str:
        return str(self.json("show", serial)["status"])
