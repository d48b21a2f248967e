# Keypad scanning: a membrane matrix (3x4, 4x4) or one pin per key, plus POWER on its own pin.
#
# Matrix: rows are outputs, columns inputs with pull-ups. Between scans every row is driven
# low, so any pressed key pulls its column low: one read of the columns tells whether anything
# is pressed (the cheap idle scan). A full scan drives one row low at a time.
# Debounce: a key changes state only after the new level was read on DEBOUNCE consecutive
# scans (2 scans at the 10 ms scan period = 20 ms); the event carries the time of the first
# of those reads.
try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):  # type: ignore[no-redef]
        return x

from dsc.hal import PULL_DOWN, PULL_UP

DOWN = const(1)  # (DOWN, key, t, 0)
UP = const(2)    # (UP, key, t, held_ms)
LONG = const(3)  # (LONG, key, t, held_ms): once per press, when held >= long_ms
DEBOUNCE = const(2)
LONG_MS = const(1000)


class Keypad:
    def __init__(self, hal, long_ms=LONG_MS):
        pad = hal.board["keypad"]
        self.long_ms = long_ms
        self.names = list(pad["keys"]) + ["POWER"]
        n = len(self.names)
        self._power = n - 1
        self._raw = bytearray(n)     # this scan's reading, 1 = pressed
        self._state = bytearray(n)   # debounced state
        self._count = bytearray(n)   # consecutive reads that differ from the state
        self._long = bytearray(n)    # long-press event sent for this press
        self._since = [0] * n        # time of the first differing read
        self._down_at = [0] * n      # time the current press began
        self._busy = 0               # keys pressed or changing: the idle scan is not enough
        self.events = []
        power = hal.board["power"]
        self._power_low = bool(power.get("active_low", True))
        self._power_pin = hal.pin_in(power["pin"], PULL_UP if self._power_low else PULL_DOWN)
        self._matrix = pad["kind"] == "matrix"
        # Each scan is one hal.read_group (one bridge message in the emulator's MicroPython
        # runtime): POWER and the columns for the idle scan, POWER and the matrix for a full one.
        self._hal = hal
        if self._matrix:
            rows = [hal.pin_out(p, 0) for p in pad["rows"]]
            cols = [hal.pin_in(p, PULL_UP) for p in pad["cols"]]
            self._idle_group = hal.pin_group([self._power_pin] + cols)
            self._idle_levels = bytearray(1 + len(cols))
            self._group = hal.pin_group([self._power_pin], rows, cols)
        else:
            direct = pad["direct"]
            pins = [hal.pin_in(direct[k], PULL_UP) for k in pad["keys"]]
            self._group = hal.pin_group([self._power_pin] + pins)
        self._levels = bytearray(n)  # POWER, then one per key (a matrix: row by row)

    def is_down(self, name):
        return bool(self._state[self.names.index(name)])

    def active(self):
        """True while a key is pressed or settling: App then keeps scanning every few ms."""
        return self._busy > 0

    def scan(self, now):
        """Read every key once; return the list of events (reused: read it before the next scan)."""
        events = self.events
        if events:
            del events[:]
        raw = self._raw
        on = 0 if self._power_low else 1
        if self._matrix and self._busy == 0 and self._idle_scan(on):
            return events
        levels = self._levels
        self._hal.read_group(self._group, levels)
        raw[self._power] = 1 if levels[0] == on else 0
        for i in range(self._power):
            raw[i] = 1 if levels[i + 1] == 0 else 0  # a pressed key reads low
        self._update(now, raw)
        return events

    def _idle_scan(self, on):
        # Every row is low between scans: POWER and one read of the columns tell whether any
        # key is down. True: nothing is (no full scan needed, nothing changed).
        levels = self._idle_levels
        self._hal.read_group(self._idle_group, levels)
        if levels[0] == on:
            return False
        for i in range(1, len(levels)):
            if levels[i] == 0:
                return False
        return True

    def _update(self, now, raw):
        state = self._state
        count = self._count
        busy = 0
        for i in range(len(raw)):
            if raw[i] != state[i]:
                c = count[i] + 1
                if c == 1:
                    self._since[i] = now
                if c >= DEBOUNCE:
                    self._change(i, raw[i])
                    c = 0
                count[i] = c
            else:
                count[i] = 0
            if state[i]:
                self._check_long(i, now)
            if state[i] or count[i]:
                busy += 1
        self._busy = busy

    def _change(self, i, pressed):
        t = self._since[i]
        self._state[i] = pressed
        if pressed:
            self._down_at[i] = t
            self._long[i] = 0
            self.events.append((DOWN, self.names[i], t, 0))
        else:
            self.events.append((UP, self.names[i], t, t - self._down_at[i]))

    def _check_long(self, i, now):
        held = now - self._down_at[i]
        if not self._long[i] and held >= self.long_ms:
            self._long[i] = 1
            self.events.append((LONG, self.names[i], now, held))
