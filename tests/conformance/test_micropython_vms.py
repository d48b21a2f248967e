"""Every script in tests/mp/ runs, unchanged, on CPython and on both real MicroPython VMs."""

from __future__ import annotations

from pathlib import Path

import pytest
from mpvm import MP_TESTS, VMS, run

SCRIPTS = sorted(p for p in MP_TESTS.glob("test_*.py"))


@pytest.mark.parametrize("vm", VMS)
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_on_vm(script: Path, vm: str) -> None:
    result = run(vm, script)
    assert result.returncode == 0, f"{script.name} on {vm}:\n{result.stdout}\n{result.stderr}"
    assert " 0 failed" in result.stdout, result.stdout
    # The harness prints its tally; a script that ran no test must not pass silently.
    tally = [line for line in result.stdout.splitlines() if line.startswith("mptest: ")]
    assert tally and not tally[-1].startswith("mptest: 0 passed"), result.stdout
