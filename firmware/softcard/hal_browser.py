# The soft card's HAL: dsc.app.App on the MicroPython WebAssembly build in a browser page.
# Only what that port offers is used: the `js` module (the page's globals: Date, crypto) and
# plain Python. The page (host_tools/web/static/softcard/softcard.js) drives it:
#   - keys: press(name, down) sets a key's level; the keypad module scans it like pins;
#   - the display: every I2C write is kept as hex; take_i2c() hands the bytes to the page,
#     which decodes the SSD1306 stream onto its canvas (the controller, not the view);
#   - flash: the card's files live in a dict; the page loads them from IndexedDB before boot
#     (load_flash) and stores them back, encrypted, whenever take_flash() reports a change;
#   - serial: feed(hex) queues bytes from the server, take_serial() returns what the card sent;
#   - time from Date.now(), randomness from crypto.getRandomValues.
# The page calls App.step() itself on a timer (as the emulator does), never App.run().
try:
    import js  # pyright: ignore[reportMissingImports]  (the WebAssembly port's bridge to JS)
except ImportError:  # the unix port, in tests: no page
    js = None

import binascii
import json

from dsc.hal import PULL_UP, Hal

KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "CLR", "0", "OK"]
POWER_PIN = 12

# The soft card's board: one pin per key (pins 0-11 in KEYS order), POWER on pin 12, the
# boards' 128x32 SSD1306 at 0x3C. `name` is what INFO reports; the registry calls a card on
# this board a `softcard` (provisioning.policy.SOFT_BOARDS).
BOARD = {
    "name": "soft",
    "title": "Soft card (MicroPython WebAssembly in a browser)",
    "port": "webassembly",
    "keypad": {"kind": "direct", "keys": KEYS,
               "direct": {k: i for i, k in enumerate(KEYS)}},
    "power": {"pin": POWER_PIN, "active_low": True},
    "display": {"addr": 0x3C, "width": 128, "height": 32},
    "flash": {"dir": "/dsc", "size": 65536, "fs": "indexeddb"},
    "serial": {"kind": "http"},
    "led": None,
}


class _Pin:
    """A key's input pin: reads 0 while the key is held (pull-up, switch to ground)."""

    def __init__(self, levels, num):
        self._levels = levels
        self._num = num

    def value(self, v=None):
        if v is None:
            return self._levels[self._num]
        self._levels[self._num] = 1 if v else 0
        return None


class BrowserHal(Hal):
    def __init__(self, board=None, clock=None):
        # clock: a function returning milliseconds (tests); the page's Date.now() otherwise
        self.board = board if board is not None else BOARD
        self._clock = clock
        self._levels = bytearray(b"\x01" * (POWER_PIN + 1))  # pulled up: nothing pressed
        self._files = {}
        self._flash_changed = False
        self._i2c = []
        self._rx = bytearray()
        self._tx = bytearray()
        self.reset_requested = False

    # --- what the page calls ---
    def press(self, name, down):
        i = POWER_PIN if name == "POWER" else KEYS.index(name)
        self._levels[i] = 0 if down else 1

    def load_flash(self, text):
        """The card's files as the page stored them: JSON {name: hex}."""
        files = {}
        for name, data in json.loads(text).items():
            files[name] = binascii.unhexlify(data)
        self._files = files
        self._flash_changed = False

    def take_flash(self):
        """JSON {name: hex} of every file when something changed since the last call, else ""."""
        if not self._flash_changed:
            return ""
        self._flash_changed = False
        out = {}
        for name, data in self._files.items():
            out[name] = binascii.hexlify(data).decode()
        return json.dumps(out)

    def take_i2c(self):
        """The I2C writes since the last call, as hex strings joined by commas."""
        writes = self._i2c
        self._i2c = []
        return ",".join(writes)

    def feed(self, hex_text):
        self._rx.extend(binascii.unhexlify(hex_text))

    def take_serial(self):
        out = binascii.hexlify(bytes(self._tx)).decode()
        self._tx = bytearray()
        return out

    # --- time ---
    def ticks_ms(self):
        if self._clock is not None:
            return int(self._clock())
        return int(js.Date.now()) if js is not None else 0

    def unix_time(self):
        if self._clock is not None:
            return int(self._clock()) // 1000
        return int(js.Date.now()) // 1000 if js is not None else None

    def idle(self, ms):
        pass  # the page's timer calls App.step() again

    # --- GPIO ---
    def pin_out(self, num, value):
        self._levels[num] = 1 if value else 0
        return _Pin(self._levels, num)

    def pin_in(self, num, pull):
        if pull != PULL_UP:
            raise ValueError("soft card pins are pulled up")
        return _Pin(self._levels, num)

    # --- I2C ---
    def i2c_write(self, addr, buf):
        if addr != self.board["display"]["addr"]:
            raise OSError(19)  # ENODEV: nothing answers at that address (a NACK)
        self._i2c.append(binascii.hexlify(bytes(buf)).decode())

    # --- flash ---
    def fs_read(self, name):
        return self._files.get(name)

    def fs_write(self, name, data):
        self._files[name] = bytes(data)
        self._flash_changed = True

    def fs_rename(self, src, dst):
        self._files[dst] = self._files.pop(src)
        self._flash_changed = True

    def fs_remove(self, name):
        if self._files.pop(name, None) is not None:
            self._flash_changed = True

    def fs_free(self):
        used = 0
        for data in self._files.values():
            used += len(data)
        return self.board["flash"]["size"] - used

    # --- serial ---
    def serial_read(self):
        data = bytes(self._rx)
        self._rx = bytearray()
        return data

    def serial_write(self, data):
        self._tx.extend(data)

    # --- misc ---
    def random_bytes(self, n):
        if js is None:
            import os
            return os.urandom(n)
        arr = js.Uint8Array.new(n)
        js.crypto.getRandomValues(arr)
        out = bytearray(n)
        for i in range(n):
            out[i] = arr[i]
        return bytes(out)

    def reset(self):
        self.reset_requested = True  # the page boots a new App over the same flash


def screen_text(view):
    """The lines the display draws for `view` (dsc.display's layout), for the page's text mirror.

    The PIN is never in a view (only how many digits were typed), so the mirror shows stars."""
    kind = view[0] if view else "off"
    if kind == "off":
        return []
    if kind == "pin":
        return ["PIN>", "*" * view[1]] if view[1] else ["PIN>"]
    if kind == "challenge":
        return ["CHALLNG>", view[1].upper()] if view[1] else ["CHALLNG>"]
    if kind == "response":
        d = view[1].upper()
        return [d[:len(d) // 2] + " " + d[len(d) // 2:] if len(d) > 5 else d]
    out = []
    for text in view[1:]:
        out.append(str(text).upper())
    return out
