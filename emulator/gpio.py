"""Virtual GPIO: pins, and keys as switches between wires.

Every key is a switch joining two *nodes*: two GPIO pins (a matrix key joins its row wire to
its column wire), or a pin and ground/supply (a direct button, the POWER key). Reading an
input pin looks at the net it belongs to through the closed switches:
  - a pin driven as an output, or GND/VCC, in the net decides the level (a driven-low row
    pulls a pulled-up column low through a closed switch, and a driven-low column pulls a
    pulled-up row low just the same: whichever side the firmware drives);
  - otherwise a pull-up reads 1 and a pull-down 0;
  - a floating net (no driver, no pull) reads 0, as a real input often does; firmware that
    forgets its pull-ups shows up as phantom key presses.
Two outputs driving different levels into one net are a short circuit: counted in `shorts`,
read as 0 (the low side wins on real push-pull pins only by burning current).

Switch timing (press/release, contact bounce, holding for N ms) belongs to the scheduler,
which flips switches here at the right virtual times.
"""

from __future__ import annotations

from typing import Any

from emulator.errors import EmulatorError

GND = "GND"
VCC = "VCC"
PULL_NONE = 0
PULL_UP = 1
PULL_DOWN = 2

PinId = int | str  # GPIO numbers; some ports (pyboard) name pins: "X1"
Node = PinId  # a pin, or GND / VCC


class GpioError(EmulatorError, ValueError):
    """A board file names impossible wiring (a key on a missing pin, two keys alike, ...)."""


class _PinState:
    __slots__ = ("mode", "pull", "value")

    def __init__(self) -> None:
        self.mode = "none"  # "in", "out" or "none" (never configured: high impedance)
        self.value = 0
        self.pull = PULL_NONE


class Switch:
    __slots__ = ("a", "b", "closed", "name")

    def __init__(self, name: str, a: Node, b: Node) -> None:
        self.name = name
        self.a = a
        self.b = b
        self.closed = False


class PinHandle:
    """What `hal.pin_in`/`hal.pin_out` return: the machine.Pin calls the firmware uses."""

    __slots__ = ("_gpio", "num")

    def __init__(self, gpio: Gpio, num: PinId) -> None:
        self._gpio = gpio
        self.num = num

    def value(self, v: Any = None) -> int | None:
        if v is None:
            return self._gpio.read(self.num)
        self._gpio.write(self.num, 1 if v else 0)
        return None

    __call__ = value

    def on(self) -> None:
        self._gpio.write(self.num, 1)

    def off(self) -> None:
        self._gpio.write(self.num, 0)

    def __repr__(self) -> str:
        return f"Pin({self.num})"


class Gpio:
    """The pins the firmware or the wiring has used, and the switches between them."""

    def __init__(self) -> None:
        self.pins: dict[PinId, _PinState] = {}
        self.switches: dict[str, Switch] = {}
        self.shorts = 0
        self.reads = 0
        self._closed: dict[Node, list[Node]] = {}  # adjacency over closed switches only

    # --- the firmware's side ---
    def pin_out(self, num: PinId, value: int) -> PinHandle:
        st = self._pin(num)
        st.mode, st.pull, st.value = "out", PULL_NONE, 1 if value else 0
        return PinHandle(self, num)

    def pin_in(self, num: PinId, pull: int) -> PinHandle:
        if pull not in (PULL_NONE, PULL_UP, PULL_DOWN):
            raise ValueError(f"invalid pull {pull!r}")
        st = self._pin(num)
        st.mode, st.pull = "in", pull
        return PinHandle(self, num)

    def write(self, num: PinId, value: int) -> None:
        st = self._pin(num)
        st.value = value  # like machine.Pin: remembered, driven only while an output

    def read(self, num: PinId) -> int:
        self.reads += 1
        st = self._pin(num)
        if num not in self._closed:  # fast path: no closed switch touches this pin
            return self._own_level(st)
        return self._net_level(num)

    # --- the world's side ---
    def add_switch(self, name: str, a: Node, b: Node) -> Switch:
        if name in self.switches:
            raise GpioError(f"key {name!r} is wired twice")
        for node in (a, b):
            if node not in (GND, VCC):
                self._pin(node)
        sw = Switch(name, a, b)
        self.switches[name] = sw
        return sw

    def set_switch(self, name: str, closed: bool) -> None:
        sw = self.switches[name]
        if sw.closed != closed:
            sw.closed = closed
            self._rebuild()

    def is_closed(self, name: str) -> bool:
        return self.switches[name].closed

    def release_all(self) -> None:
        for sw in self.switches.values():
            sw.closed = False
        self._rebuild()

    def reset_pins(self) -> None:
        """Power-on state: every pin back to high impedance (switches stay as they are)."""
        self.pins = {}

    # --- internals ---
    def _pin(self, num: PinId) -> _PinState:
        st = self.pins.get(num)
        if st is None:
            if isinstance(num, bool) or not isinstance(num, int | str) or num in (GND, VCC):
                raise GpioError(f"invalid pin {num!r}")
            st = self.pins[num] = _PinState()
        return st

    @staticmethod
    def _own_level(st: _PinState) -> int:
        if st.mode == "out":
            return st.value
        return 1 if st.pull == PULL_UP else 0

    def _rebuild(self) -> None:
        adj: dict[Node, list[Node]] = {}
        for sw in self.switches.values():
            if sw.closed:
                adj.setdefault(sw.a, []).append(sw.b)
                adj.setdefault(sw.b, []).append(sw.a)
        self._closed = adj

    def _net_level(self, start: PinId) -> int:
        seen: set[Node] = {start}
        todo: list[Node] = [start]
        drivers: set[int] = set()
        pulls: set[int] = set()
        while todo:
            node = todo.pop()
            if node == GND or node == VCC:
                drivers.add(1 if node == VCC else 0)
            else:
                st = self._pin(node)
                if st.mode == "out":
                    drivers.add(st.value)
                elif st.mode == "in" and st.pull != PULL_NONE:
                    pulls.add(1 if st.pull == PULL_UP else 0)
            for nxt in self._closed.get(node, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        if len(drivers) > 1:
            self.shorts += 1
            return 0
        if drivers:
            return drivers.pop()
        if pulls:
            return 1 if 1 in pulls else 0
        return 0


def wire_keys(gpio: Gpio, board: dict[str, Any]) -> list[str]:
    """Add the keypad and POWER switches a board file names; return the key names."""
    keypad = board["keypad"]
    kind = keypad.get("kind")
    if kind == "matrix":
        rows, cols, keys = keypad["rows"], keypad["cols"], keypad["keys"]
        if len(keys) != len(rows) * len(cols):
            raise GpioError(f"{len(keys)} keys for a {len(rows)}x{len(cols)} matrix")
        for i, key in enumerate(keys):  # row-major
            gpio.add_switch(key, rows[i // len(cols)], cols[i % len(cols)])
    elif kind == "direct":
        for key, pin in keypad["direct"].items():
            gpio.add_switch(key, pin, GND)  # active low against the input's pull-up
    else:
        raise GpioError(f"unknown keypad kind {kind!r}")
    power = board["power"]
    gpio.add_switch("POWER", power["pin"], GND if power.get("active_low", True) else VCC)
    return list(gpio.switches)
