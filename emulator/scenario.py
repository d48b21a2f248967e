"""Scenarios: a card session written as steps, one per line, run against an Emulator.

    # log in
    hold POWER 1500
    expect PIN>
    type 1234
    press OK
    expect CHALLNG>
    wait 1000
    screen
    screenshot card.png
    expect-off
    power-cut
    reboot

A `#` at the start of a line or after a blank starts a comment. `expect TEXT` passes when
the screen contains TEXT, comparing with runs of whitespace (line breaks too) as one space,
so `expect NOT PROVISIONED` matches a two-line message. Every line is checked before the
first step runs: an unknown step or key, or a bad number, is an error naming the line, and
nothing runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.api import BOUNCE_MS
from emulator.errors import EmulatorError, ExpectationFailed, ScenarioError

MAX_MS = 24 * 3600 * 1000
_COMMENT = re.compile(r"(^|\s)#.*$")  # `expect A#B` keeps its #


@dataclass(frozen=True)
class Step:
    line: int
    op: str
    args: tuple[str, ...]
    where: str = "scenario"

    def at(self) -> str:
        return f"{self.where}:{self.line}"


# op -> number of arguments ("rest": the rest of the line as one argument)
_ARITY: dict[str, int | str] = {
    "hold": 2, "press": 1, "type": 1, "wait": 1, "expect": "rest", "expect-off": 0,
    "screen": 0, "screenshot": 1, "power-cut": 0, "reboot": 0,
}


def parse(text: str, keys: Iterable[str], where: str = "scenario",
          bounce_ms: int = BOUNCE_MS) -> list[Step]:
    """Check every line and return the steps; raise ScenarioError at the first bad one.
    bounce_ms: the card's contact bounce; a `hold` must last longer to register."""
    known = set(keys)
    steps = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        step = _parse_line(line, n, where)
        _check_step(step, known, bounce_ms)
        steps.append(step)
    return steps


def _parse_line(line: str, n: int, where: str) -> Step:
    op, _, rest = line.partition(" ")
    arity = _ARITY.get(op)
    if arity is None:
        raise ScenarioError(f"{where}:{n}: unknown step {op!r} "
                            f"(steps: {', '.join(sorted(_ARITY))})")
    if arity == "rest":
        if not rest.strip():
            raise ScenarioError(f"{where}:{n}: {op} needs a text")
        return Step(n, op, (rest.strip(),), where)
    args = tuple(rest.split())
    if len(args) != arity:
        raise ScenarioError(f"{where}:{n}: {op} takes {arity} argument(s), got {len(args)}")
    return Step(n, op, args, where)


def _check_step(step: Step, known: set[str], bounce_ms: int) -> None:
    if step.op in ("hold", "press"):
        _check_key(step, step.args[0], known)
    if step.op == "type":
        for ch in step.args[0]:
            _check_key(step, ch, known)
    if step.op == "hold":
        # A press no longer than the contact bounce never registers (Emulator.hold refuses it).
        _ms(step, step.args[1], minimum=bounce_ms + 1)
    if step.op == "wait":
        _ms(step, step.args[0], minimum=0)


def _check_key(step: Step, key: str, known: set[str]) -> None:
    if key not in known:
        raise ScenarioError(f"{step.at()}: unknown key {key!r} "
                            f"(keys: {' '.join(sorted(known))})")


def _ms(step: Step, text: str, minimum: int) -> int:
    if not re.fullmatch(r"\d+", text) or not minimum <= int(text) <= MAX_MS:
        raise ScenarioError(f"{step.at()}: {text!r} is not a time in ms "
                            f"({minimum}..{MAX_MS})")
    return int(text)


def _norm(text: str) -> str:
    return " ".join(text.split())


def run(card: Any, steps: list[Step], out: Callable[[str], None] = print,
        base: Path | None = None) -> None:
    """Run steps on an Emulator; raise ExpectationFailed at the first one that fails."""
    for step in steps:
        try:
            _run_step(card, step, out, base or Path.cwd())
        except ExpectationFailed:
            raise
        except EmulatorError as e:  # the card refused the step: name the line, no traceback
            raise ExpectationFailed(f"{step.at()}: {e}") from None


def _run_step(card: Any, step: Step, out: Callable[[str], None], base: Path) -> None:
    op, args = step.op, step.args
    if op == "hold":
        card.hold(args[0], int(args[1]))
    elif op == "press":
        card.press(args[0])
    elif op == "type":
        card.type(args[0])
    elif op == "wait":
        card.advance(int(args[0]))
    elif op == "expect":
        screen = card.screen_text()
        if _norm(args[0]) not in _norm(screen):
            raise ExpectationFailed(f"{step.at()}: expected {args[0]!r} on the screen, "
                                    f"it shows {_shown(screen)}")
    elif op == "expect-off":
        screen = card.screen_text()
        if screen or card.is_on:
            raise ExpectationFailed(f"{step.at()}: expected the card off, "
                                    f"it shows {_shown(screen)}")
    elif op == "screen":
        out(f"[{step.line}] " + (card.screen_text().replace("\n", " | ") or "(off)"))
    elif op == "screenshot":
        card.screenshot(base / args[0])
    elif op == "power-cut":
        card.power_cut()
    elif op == "reboot":
        card.reboot()


def _shown(screen: str) -> str:
    return repr(screen.replace("\n", " | ")) if screen else "nothing (off)"


def run_file(card: Any, path: str | Path, out: Callable[[str], None] = print) -> int:
    """Parse and run a scenario file; return the number of steps run."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(f"cannot read the scenario {p}: {e}") from None
    steps = parse(text, card.board.keys, where=str(p),
                  bounce_ms=getattr(card, "bounce_ms", BOUNCE_MS))
    run(card, steps, out)
    return len(steps)
