"""Find attached cards: serial ports whose USB VID:PID a board file names, and the emulated
cards that announce themselves (`host_tools.announce`), each asked for INFO.

`--port auto` resolves to the only card found, or fails naming what it found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from serial.tools import list_ports

from host_tools import announce
from host_tools.boards import board_names, load_board
from host_tools.client import CardClient, CardInfo
from host_tools.errors import DscError
from host_tools.transport import CardNotFound, Transport, open_transport


@dataclass(frozen=True)
class Candidate:
    port: str
    vid: int | None           # None for an emulated card
    pid: int | None
    description: str
    boards: tuple[str, ...]   # board files with this VID:PID (an emulated card: its board)
    emulated: bool = False


@dataclass(frozen=True)
class Found:
    candidate: Candidate
    info: CardInfo | None
    error: str | None         # why INFO failed (a MicroPython board without our firmware, busy)

    def to_json(self) -> dict[str, Any]:
        c = self.candidate
        usb = None if c.vid is None or c.pid is None else f"{c.vid:04x}:{c.pid:04x}"
        return {"port": c.port, "usb": usb, "boards": list(c.boards), "emulated": c.emulated,
                "description": c.description, "error": self.error,
                "info": self.info.to_json() if self.info else None}


def usb_ids() -> dict[tuple[int, int], tuple[str, ...]]:
    """VID:PID -> the board names whose file declares it."""
    ids: dict[tuple[int, int], list[str]] = {}
    for name in board_names():
        facts = load_board(name)
        # A production build may change the USB identity (the pyboard without its USB drive).
        for usb in (facts.get("usb"), facts.get("production", {}).get("usb")):
            if isinstance(usb, list | tuple) and len(usb) == 2:
                ids.setdefault((int(usb[0]), int(usb[1])), []).append(name)
    return {k: tuple(v) for k, v in ids.items()}


def candidates(ports: Iterable[Any] | None = None,
               announced: Iterable[announce.Announcement] | None = None) -> list[Candidate]:
    """Serial ports with a known VID:PID (`ports`: list_ports.comports() items, for tests),
    then the running emulators (`announced`: default, those announced for this user)."""
    ids = usb_ids()
    out = []
    for p in list_ports.comports() if ports is None else ports:
        if p.vid is None or p.pid is None or (p.vid, p.pid) not in ids:
            continue
        out.append(Candidate(p.device, p.vid, p.pid, p.description or "", ids[(p.vid, p.pid)]))
    out.sort(key=lambda c: c.port)
    emulated = [Candidate(a.port, None, None, f"emulated card ({a.runtime} runtime, pid {a.pid})",
                          (a.board,), emulated=True)
                for a in (announce.read_all() if announced is None else announced)]
    return out + emulated


def probe(candidate: Candidate, opener: Callable[[str], Transport] = open_transport,
          timeout: float = 1.0) -> Found:
    try:
        with CardClient(opener(candidate.port), timeout=timeout, retries=1) as client:
            return Found(candidate, client.info(), None)
    except DscError as e:
        return Found(candidate, None, str(e))


def list_cards(ports: Iterable[Any] | None = None,
               opener: Callable[[str], Transport] = open_transport,
               announced: Iterable[announce.Announcement] | None = None) -> list[Found]:
    return [probe(c, opener) for c in candidates(ports, announced)]


def auto_port(ports: Iterable[Any] | None = None,
              opener: Callable[[str], Transport] = open_transport,
              announced: Iterable[announce.Announcement] | None = None) -> str:
    """The port of the only attached or emulated card that answers INFO."""
    found = list_cards(ports, opener, announced)
    cards = [f for f in found if f.info is not None]
    if len(cards) == 1:
        return cards[0].candidate.port
    if not cards:
        others = "; ".join(f"{f.candidate.port}: {f.error}" for f in found)
        raise CardNotFound("no card found" + (f" (ports that did not answer: {others})"
                                              if others else ": is it plugged in?"))
    names = ", ".join(f"{f.candidate.port} ({f.info.serial_number or 'blank'}"
                      f"{', emulated' if f.candidate.emulated else ''})"
                      for f in cards if f.info is not None)
    raise CardNotFound(f"{len(cards)} cards found: {names}; give --port")


def only_board(ports: Iterable[Any] | None = None,
               announced: Iterable[announce.Announcement] | None = None) -> str:
    """The port of the only board attached (a known VID:PID, or an emulator), whether or not
    it answers INFO yet: what `dsc flash --port auto` flashes (a MicroPython board with no
    OpenDSC firmware is no card yet)."""
    found = candidates(ports, announced)
    if len(found) == 1:
        return found[0].port
    if not found:
        raise CardNotFound("no board found: is it plugged in? (a board without MicroPython has "
                           "no serial port yet: see docs/first-flash.md)")
    raise CardNotFound(f"{len(found)} boards found: {', '.join(c.port for c in found)}; "
                       "give --port")


def resolve_port(port: str) -> str:
    return auto_port() if port == "auto" else port
