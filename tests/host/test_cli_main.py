"""The `dsc` entry point: the command table, lazy imports, errors as text or JSON with their
exit statuses, a closed pipe, and the master admin key that `dsc registry init` makes."""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools import admin_keys
from host_tools.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh HOME with no DSC_* settings: every default path is under it."""
    for name in list(os.environ):
        if name.startswith("DSC_") or name.startswith("XDG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    yield tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_table_matches_what_the_modules_register() -> None:
    by_module: dict[str, dict[str, str]] = {}
    for command, (module, text) in COMMANDS.items():
        by_module.setdefault(module, {})[command] = text
    for module, expected in by_module.items():
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(f"host_tools.cli.{module}").register(sub)
        helps = {a.dest: a.help for a in sub._choices_actions}
        assert helps == expected, module


def test_help_lists_every_command_without_importing_them() -> None:
    code = ("import sys\nfrom host_tools.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('host_tools.cli.')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       check=True)
    for command in COMMANDS:
        assert f"    {command} " in r.stdout or f"    {command}\n" in r.stdout, command
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_only_the_command_that_runs_is_imported(home: Path) -> None:
    code = ("import sys\nfrom host_tools.cli import main\n"
            "status = main(['verify', 'alice', '1', '12345678'])\n"
            "print(status, sorted(m for m in sys.modules if m.split('.')[0] in "
            "('emulator', 'serial', 'pskc', 'mpremote') or m.startswith('host_tools.cli.cmd_') "
            "or m in ('host_tools.discovery', 'host_tools.flash', 'provisioning.pskc_io')))")
    env = {**os.environ, "HOME": str(home)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env=env)
    assert r.stdout.strip().splitlines()[-1] == "1 ['host_tools.cli.cmd_support']", r.stderr


def test_show_names_a_card_or_user_that_is_not_there(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "registry", "init")[0] == 0
    code, out, err = run(capsys, "show", "DSC99999999")
    assert (code, out) == (1, "")
    assert err == "dsc: error: no card or user DSC99999999 in the registry\n"


def test_json_errors_are_json_with_the_same_exit_status(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "registry", "init", "--json")[0] == 0
    code, out, err = run(capsys, "show", "DSC99999999", "--json")
    assert (code, out) == (1, "")
    assert json.loads(err) == {"error": "no card or user DSC99999999 in the registry",
                               "type": "NotFoundError", "exit_status": 1}
    code, out, err = run(capsys, "provision", "--port", "x", "--count", "0", "--json")
    assert (code, out) == (2, "")
    assert json.loads(err) == {"error": "--count must be at least 1", "type": "UsageError",
                               "exit_status": 2}


def test_a_library_fact_gets_its_option_hint_from_the_cli(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "registry", "init")[0] == 0
    code, _, err = run(capsys, "provision", "--port", "x", "--pin-len", "3", "--json")
    data = json.loads(err)
    assert code == 2 and data["field"] == "pin_len"
    assert data["error"] == "a PIN length must be 4 to 12 (--pin-len)"


def test_a_closed_stdout_ends_quietly(capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    class Closed(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("sys.stdout", Closed())
    assert main(["build", "wiring"]) == 141
    assert capsys.readouterr().err == ""


def test_a_closed_pipe_in_a_real_process_prints_no_traceback() -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written (`| head -0`)
    try:
        r = subprocess.run([sys.executable, "-m", "host_tools", "build", "wiring"], stdout=write,
                           stderr=subprocess.PIPE, text=True, cwd=ROOT)
    finally:
        os.close(write)
    assert (r.returncode, r.stderr) == (141, "")


# --- the master admin key ----------------------------------------------------------------------
def test_registry_init_makes_the_master_admin_key_beside_the_registry_key(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "registry", "init", "--json")
    data = json.loads(out)
    config = home / ".config" / "opendsc"
    assert code == 0 and data["key_file"] == str(config / "master.key")
    admin = config / "admin-master.key"
    assert data["admin_master_key_file"] == str(admin) and data["admin_master_key_created"]
    assert stat.S_IMODE(admin.stat().st_mode) == 0o600
    key = admin_keys.read_master_key()  # every command finds it there by default
    assert len(key) == admin_keys.MASTER_KEY_BYTES
    code, out, _ = run(capsys, "registry", "init", "--json")  # again: kept, not replaced
    assert json.loads(out)["admin_master_key_created"] is False
    assert admin_keys.read_master_key() == key


def test_a_master_admin_key_others_can_read_is_refused(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "registry", "init")[0] == 0
    admin = home / ".config" / "opendsc" / "admin-master.key"
    admin.chmod(0o644)
    with pytest.raises(admin_keys.MasterKeyFileError, match="can be read by others"):
        admin_keys.read_master_key()
    code, _, err = run(capsys, "registry", "init")  # init checks the file it keeps
    assert code == 2 and "can be read by others (mode 644)" in err
    code, _, err = run(capsys, "provision", "--port", "x")
    assert code == 2 and "can be read by others" in err


def test_no_master_admin_key_says_where_it_looked_and_how_to_make_one(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "registry", "init")[0] == 0
    path = home / ".config" / "opendsc" / "admin-master.key"
    path.unlink()
    code, _, err = run(capsys, "provision", "--port", "x")
    assert code == 2
    assert err == (f"dsc: error: no master admin key: {path} does not exist and "
                   "DSC_ADMIN_MASTER_KEY_FILE is not set (give --admin-master-key-file, set "
                   "DSC_ADMIN_MASTER_KEY_FILE, or run `dsc registry init`)\n")


@pytest.mark.slow
def test_provision_works_after_only_registry_init(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from emulator import Emulator

    assert run(capsys, "registry", "init")[0] == 0
    with Emulator(serial="pty") as card:
        assert card.serial_url is not None
        code, out, err = run(capsys, "provision", "--port", card.serial_url, "--json")
    assert code == 0, err
    assert json.loads(out)["serial_number"] == "DSC00000001"


# --- a `dsc/` directory in the current directory -------------------------------------------------
def _ocra_in(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "K": "3132333435363738393031323334353637383930"}
    return subprocess.run([sys.executable, "-m", "host_tools", "ocra", "--suite",
                           "OCRA-1:HOTP-SHA1-6:QN08", "--key-env", "K", "--challenge", "00000000"],
                          capture_output=True, text=True, cwd=cwd, env=env)


def test_a_bare_dsc_directory_in_the_current_directory_does_not_shadow_the_firmware(
        tmp_path: Path) -> None:
    (tmp_path / "dsc").mkdir()
    (tmp_path / "dsc" / "notes.txt").write_text("not python")
    r = _ocra_in(tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "237653\n", "")  # RFC 6287 C.1, Q=00000000


def test_a_dsc_package_in_the_current_directory_is_named_not_used(tmp_path: Path) -> None:
    (tmp_path / "dsc").mkdir()
    (tmp_path / "dsc" / "__init__.py").write_text("")
    r = _ocra_in(tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert f"the package `dsc` found ({tmp_path / 'dsc'}) is not the OpenDSC firmware" \
        in r.stderr


def test_a_wrong_command_line_with_json_is_a_json_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["show", "DSC1", "--json", "--no-such-option"])
    out, err = capsys.readouterr()
    assert e.value.code == 2 and out == ""
    assert json.loads(err) == {"error": "dsc: unrecognized arguments: --no-such-option",
                               "type": "UsageError", "exit_status": 2}
    with pytest.raises(SystemExit) as e:
        main(["show", "DSC1", "--no-such-option"])  # without --json: argparse's usage text
    assert e.value.code == 2 and "usage: dsc" in capsys.readouterr().err


# --- how to go on: the libraries say it in words, the CLI names the command -------------------
def test_no_registry_names_the_command_that_makes_one(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "list")
    db = home / ".local" / "share" / "opendsc" / "registry.sqlite3"
    assert code == 1
    assert err.startswith("dsc: error: no registry at ") and str(db.name) in err
    assert err.endswith(": initialise one (or set DSC_DB) (`dsc registry init`)\n")
    code, _, err = run(capsys, "list", "--json")
    data = json.loads(err)
    assert (code, data["reason"], data["exit_status"]) == (1, "no registry", 1)
    assert data["error"].endswith("(`dsc registry init`)")


def test_a_missing_master_key_file_names_the_command_that_makes_one(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "registry", "init")[0] == 0
    key = home / ".config" / "opendsc" / "master.key"
    key.unlink()
    code, _, err = run(capsys, "list")
    assert code == 1
    assert err == (f"dsc: error: no master key file {key}: initialise the registry (or set "
                   f"DSC_MASTER_KEY_FILE) (`dsc registry init`)\n")


@pytest.mark.parametrize(("status", "command"), [
    ("blank", "`dsc provision` with the card attached"), ("provisioned", "`dsc assign`"),
    ("assigned", "`dsc activate`"), ("unavailable", "`dsc reactivate`"),
    ("lost", "`dsc replace`, `dsc found` or `dsc return`"),
    ("returned", "`dsc wipe` or `dsc retire`")])
def test_a_refused_card_state_gets_the_commands_that_go_on(status: str, command: str) -> None:
    from host_tools.cli import exits
    from provisioning import lifecycle

    e = lifecycle.refusal("wipe", "DSC00000007", status, ("returned", "lost"))
    assert "`dsc" not in str(e)  # the library's words ...
    assert exits.message(e) == f"{e} ({command})"  # ... and the CLI's command after them
    assert exits.exit_status(e) == 1


def test_library_hints_become_commands_only_in_the_cli() -> None:
    from host_tools.cli import exits
    from provisioning.errors import MasterKeyError, NoPinError, ProvisionFailed, RegistryError
    from provisioning.provisioner import AlreadyDone

    retry = ProvisionFailed("card X: TEST failed; provision it again", reason="retry")
    assert exits.message(retry) == "card X: TEST failed; provision it again (`dsc provision`)"
    wipe = ProvisionFailed("card X: WIPE failed; wipe it again", reason="retry wipe")
    assert exits.hint(wipe) == "`dsc wipe`"
    assert exits.hint(ProvisionFailed("the card is someone else's", reason="unknown card")) is None
    assert exits.hint(AlreadyDone("DSC00000001", "active")) is None  # not a retry, not a state
    assert exits.hint(NoPinError("no PIN: reset the user's PIN")) == "`dsc reset-pin`"
    assert exits.exit_status(NoPinError("x")) == 2  # still an input error
    assert exits.hint(MasterKeyError("exposed", reason="exposed")) == "`dsc registry rotate-key`"
    assert exits.hint(MasterKeyError("malformed")) is None
    assert exits.hint(RegistryError("never initialised", reason="not initialised")) == \
        "`dsc registry init`"
    assert exits.as_json(retry, 1)["reason"] == "retry"


def test_a_command_line_builds_the_parser_of_its_command_only() -> None:
    from host_tools.cli import build_parser

    def commands(parser: argparse.ArgumentParser) -> set[str]:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return set(sub.choices)

    argv = ["verify", "alice", "0123456789abcdef", "12345678"]
    parser = build_parser(argv)
    assert commands(parser) == {"verify"}  # not the other support commands of its module
    args = parser.parse_args(argv)
    assert (args.user, args.challenge_id, args.response, args.json) == (
        "alice", "0123456789abcdef", "12345678", False)
    assert args.func.__name__ == "_verify"
    assert commands(build_parser(["registry", "init"])) == {"registry"}
    assert build_parser(["registry", "init"]).parse_args(["registry", "init"]).func
    assert commands(build_parser(["nonsense"])) == set(COMMANDS)  # a wrong name lists them all
    assert commands(build_parser(None)) == set(COMMANDS)


def test_a_skipped_command_takes_every_call_and_does_nothing() -> None:
    from host_tools.cli import _Skipped

    skipped = _Skipped()
    assert skipped.add_argument("--x").add_mutually_exclusive_group().add_argument("y") \
        is skipped


@pytest.mark.parametrize("as_json", [False, True])
def test_a_batch_that_stopped_on_a_card_names_the_command_to_go_on(
        as_json: bool, capsys: pytest.CaptureFixture[str]) -> None:
    from host_tools.cli.cmd_provision import _summary
    from provisioning.errors import ProvisionFailed
    from provisioning.provisioner import Batch

    e = ProvisionFailed("card DSC00000002: TEST failed (timeout); it is not recorded as "
                        "provisioned: reconnect it and provision it again", reason="retry")
    batch = Batch(wanted=2, done=[], skipped=[], failed=str(e), error=e)
    assert _summary(argparse.Namespace(json=as_json), batch) == 1
    out, err = capsys.readouterr()
    said = f"{e} (`dsc provision`)"
    assert err == f"dsc: error: {said}\n"
    if as_json:
        assert json.loads(out) == {"cards": [], "skipped": [], "failed": said}
    else:
        assert out == "0 of 2 cards provisioned\n"
