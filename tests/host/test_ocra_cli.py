"""`dsc ocra`: the RFC 6287 vectors, random suites against the independent implementation, and
every way the input can be wrong (exit 2, one line, never the key or the PIN)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpvm import load_vectors
from ocra_reference import reference_response

from host_tools.cli import main

RFC = load_vectors("rfc6287.json")["vectors"]
KEY20 = "3132333435363738393031323334353637383930"
KEY_WARNING = ("dsc ocra: warning: --key puts the key in the process list and the shell history; "
               "prefer --key-file, --key-stdin or --key-env")
PIN_WARNING = ("dsc ocra: warning: --pin puts the PIN in the process list and the shell history; "
               "prefer --pin-file or --pin-env")
KEY32 = "3132333435363738393031323334353637383930313233343536373839303132"


def run(*argv: str, stdin: str | None = None,
        monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["ocra", *argv])
    errors = err.getvalue()
    while errors.startswith("dsc ocra: warning"):  # a key or PIN from argv: warned, once
        warning, _, errors = errors.partition("\n")
        assert warning == (KEY_WARNING if "--key" in warning else PIN_WARNING)
        assert ("--key" if warning == KEY_WARNING else "--pin") in argv
    return code, out.getvalue(), errors


def vector_args(v: dict[str, Any]) -> list[str]:
    args = ["--suite", v["suite"], "--key", v["key"], "--challenge", v["challenge"]]
    if "counter" in v:
        args += ["--counter", str(v["counter"])]
    if "pin" in v:
        args += ["--pin", v["pin"]]
    if "timestamp" in v:
        args += ["--timestamp", v["timestamp"]]
    return args


@pytest.mark.parametrize("v", RFC, ids=lambda v: f"{v['suite']}/{v['challenge']}")
def test_rfc6287_vector(v: dict[str, Any]) -> None:
    code, out, err = run(*vector_args(v))
    assert (code, out, err) == (0, v["expected"] + "\n", "")


def test_json_output() -> None:
    v = next(v for v in RFC if "timestamp" in v)
    code, out, _ = run(*vector_args(v), "--json")
    assert code == 0
    data = json.loads(out)
    assert data == {"suite": v["suite"], "challenge": v["challenge"],
                    "response": v["expected"], "timestamp": v["timestamp"]}
    assert v["key"] not in out


def test_key_from_file_stdin_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v = RFC[0]
    base = ["--suite", v["suite"], "--challenge", v["challenge"]]
    f = tmp_path / "seed.hex"
    f.write_text(v["key"] + "\n")
    assert run(*base, "--key-file", str(f)) == (0, v["expected"] + "\n", "")
    assert run(*base, "--key-stdin", stdin=v["key"] + "\n",
               monkeypatch=monkeypatch) == (0, v["expected"] + "\n", "")
    monkeypatch.setenv("DSC_TEST_SEED", v["key"])
    assert run(*base, "--key-env", "DSC_TEST_SEED") == (0, v["expected"] + "\n", "")


def test_help_warns_about_argv(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["ocra", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "other users" in text and "--key-file" in text and "--key-stdin" in text


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[str], str]:
    h = draw(st.sampled_from(["SHA1", "SHA256", "SHA512"]))
    digits = draw(st.sampled_from([0, 4, 6, 8, 10]))
    q_fmt = draw(st.sampled_from("NAH"))
    q_len = draw(st.integers(4, 64))
    data = []
    args: list[str] = []
    kw: dict[str, Any] = {}
    if draw(st.booleans()):
        data.append("C")
        kw["counter"] = draw(st.integers(0, 2**64 - 1))
        args += ["--counter", str(kw["counter"])]
    data.append(f"Q{q_fmt}{q_len:02d}")
    if draw(st.booleans()):
        data.append("P" + draw(st.sampled_from(["SHA1", "SHA256", "SHA512"])))
        kw["pin"] = draw(st.text("0123456789", min_size=4, max_size=8))
        args += ["--pin", kw["pin"]]
    if draw(st.booleans()):
        n = draw(st.integers(1, 128))
        data.append(f"S{n:03d}")
        kw["session"] = draw(st.binary(min_size=n, max_size=n))
        args += ["--session", kw["session"].hex()]
    if draw(st.booleans()):
        data.append(draw(st.sampled_from(["T1M", "T30S", "T1H", "T48H"])))
        kw["timestamp"] = draw(st.integers(0, 2**64 - 1))
        args += ["--timestamp", f"{kw['timestamp']:x}"]
    suite = f"OCRA-1:HOTP-{h}-{digits}:{'-'.join(data)}"
    alphabet = {"N": "0123456789", "A": "abcXYZ019 .-", "H": "0123456789abcdefABCDEF"}[q_fmt]
    challenge = draw(st.text(alphabet, min_size=4, max_size=q_len))
    key = draw(st.binary(min_size=1, max_size=100))
    want = reference_response(suite, key, challenge, **kw)
    return ["--suite", suite, "--key", key.hex(), f"--challenge={challenge}", *args], want


@settings(max_examples=150, deadline=None)
@given(cases())
def test_random_suites_match_reference(case: tuple[list[str], str]) -> None:
    argv, want = case
    assert run(*argv) == (0, want + "\n", "")


SECRET_PIN = "8642"
BAD = [
    (["--suite", "OCRA-1:HOTP-MD5-6:QN08", "--key", KEY20, "--challenge", "12345678"],
     "unsupported hash"),
    (["--suite", "OCRA-1:HOTP-SHA1-6:QN08", "--key", "31zz", "--challenge", "12345678"],
     "not hex"),
    (["--suite", "OCRA-1:HOTP-SHA1-6:QN08", "--key", "", "--challenge", "12345678"],
     "the key is empty"),
    (["--suite", "OCRA-1:HOTP-SHA1-6:QN08", "--key", KEY20, "--challenge", "1234567x"],
     "--challenge"),
    (["--suite", "OCRA-1:HOTP-SHA1-6:QN08", "--key", KEY20, "--challenge", "12345678",
      "--pin", SECRET_PIN], "takes no PIN"),
    (["--suite", "OCRA-1:HOTP-SHA256-8:QN08-PSHA1", "--key", KEY32, "--challenge", "12345678"],
     "needs a PIN (--pin)"),
    (["--suite", "OCRA-1:HOTP-SHA256-8:C-QN08", "--key", KEY32, "--challenge", "12345678"],
     "needs a counter (--counter)"),
    (["--suite", "OCRA-1:HOTP-SHA256-8:C-QN08", "--key", KEY32, "--challenge", "12345678",
      "--counter", "-1"], "--counter must be a decimal number"),
    (["--suite", "OCRA-1:HOTP-SHA256-8:C-QN08", "--key", KEY32, "--challenge", "12345678",
      "--counter", str(2**64)], "counter must be an integer"),
    (["--suite", "OCRA-1:HOTP-SHA256-8:QN08-T1M", "--key", KEY32, "--challenge", "12345678",
      "--timestamp", "xyz"], "--timestamp must be a hex number"),
    (["--suite", "OCRA-1:HOTP-SHA256-8:QN08-T1M", "--key", KEY32, "--challenge", "12345678"],
     "needs a timestamp (--timestamp)"),
    (["--suite", "OCRA-1:HOTP-SHA256-8:QN08-S002", "--key", KEY32, "--challenge", "12345678",
      "--session", "abc"], "--session must be hex"),
    (["--suite", "OCRA-1:HOTP-SHA256-8:QN08-S002", "--key", KEY32, "--challenge", "12345678",
      "--session", "aabbcc"], "2 bytes of session information"),
]


@pytest.mark.parametrize(("argv", "words"), BAD, ids=[w for _, w in BAD])
def test_bad_input_is_one_line_exit_2(argv: list[str], words: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("dsc: error: ")
    assert words in err
    for secret in (KEY20, KEY32, SECRET_PIN, "31zz"):
        assert secret not in err


def test_bad_key_file(tmp_path: Path) -> None:
    f = tmp_path / "seed.hex"
    f.write_text("not hex at all " + KEY20)
    code, out, err = run("--suite", "OCRA-1:HOTP-SHA1-6:QN08", "--key-file", str(f),
                         "--challenge", "12345678")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "not hex" in err and KEY20 not in err
    code, _, err = run("--suite", "OCRA-1:HOTP-SHA1-6:QN08", "--key-file",
                       str(tmp_path / "missing"), "--challenge", "12345678")
    assert code == 2 and err.count("\n") == 1


def test_missing_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["ocra", "--key", KEY20, "--challenge", "1234"],
                 ["ocra", "--suite", "OCRA-1:HOTP-SHA1-6:QN08", "--challenge", "1234"],
                 ["ocra", "--suite", "OCRA-1:HOTP-SHA1-6:QN08", "--key", KEY20, "--key-stdin",
                  "--challenge", "1234"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert KEY20 not in capsys.readouterr().err


def test_pin_from_file_or_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    v = next(v for v in RFC if "pin" in v)
    base = ["ocra", "--suite", v["suite"], "--key", v["key"], f"--challenge={v['challenge']}"]
    if "counter" in v:
        base += ["--counter", str(v["counter"])]
    pin_file = tmp_path / "pin"
    pin_file.write_text(v["pin"] + "\n")
    monkeypatch.setenv("TEST_DSC_PIN", v["pin"])
    for extra in (["--pin-file", str(pin_file)], ["--pin-env", "TEST_DSC_PIN"]):
        assert main([*base, *extra]) == 0
        assert capsys.readouterr().out.strip() == v["expected"]
    monkeypatch.delenv("TEST_DSC_PIN")
    assert main([*base, "--pin-env", "TEST_DSC_PIN"]) == 2
    err = capsys.readouterr().err
    assert "TEST_DSC_PIN" in err and v["pin"] not in err


def test_a_pin_from_argv_is_warned_about_once() -> None:
    v = next(v for v in RFC if "pin" in v)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["ocra", *vector_args(v)])
    assert code == 0 and out.getvalue() == v["expected"] + "\n"
    assert err.getvalue().splitlines() == [KEY_WARNING, PIN_WARNING]
    assert v["pin"] not in err.getvalue()
