# A fake HAL for tests that run on CPython and both MicroPython VMs: a virtual clock, a key
# matrix (or direct buttons) behind fake pins, a dict flash with power-cut injection, and
# serial/I2C buffers.
#   hal = FakeHal(PICO)
#   hal.keys.add("5")      # the key is now held down (the fake pins read it)
#   hal.cut_after(17)      # the 18th flash byte written raises PowerCut
#   FakeHal(fat=True)      # FAT: a rename over a file removes it first (as dsc.hal_files does)
from dsc.hal import PULL_UP, Hal

# The Pico's board file itself (boards/ is on the path of every VM's run): board facts live once.
from pico import BOARD as PICO

DIRECT = {
    "name": "direct",
    "keypad": {
        "kind": "direct",
        "keys": ["1", "2", "3", "4", "5", "6", "7", "8", "9", "CLR", "0", "OK"],
        "direct": {"1": 20, "2": 21, "3": 22, "4": 23, "5": 24, "6": 25, "7": 26, "8": 27,
                   "9": 28, "CLR": 29, "0": 30, "OK": 31},
    },
    "power": {"pin": 15, "active_low": True},
    "display": PICO["display"],
    "serial": {"kind": "usb_cdc"},
    "flash": PICO["flash"],
}


class PowerCut(BaseException):
    """Power failed in the middle of a flash operation (like emulator.flash.PowerCut)."""


class FakePin:
    def __init__(self, hal, num, out, level):
        self.hal = hal
        self.num = num
        self.out = out
        self.level = level

    def value(self, v=None):
        if v is not None:
            self.level = 1 if v else 0
            self.hal.pin_writes += 1
            return None
        if self.out:
            return self.level
        return self.hal.read_input(self.num)


class FakeHal(Hal):
    def __init__(self, board=PICO, flash=None, fat=False):
        self.board = board
        self.fat = fat
        self.t = 0
        self.time = None          # unix_time() answer
        self.keys = set()         # names of keys held down, "POWER" included
        self.bounce = {}          # key name -> number of reads to invert (contact bounce)
        self.flash = {} if flash is None else flash
        self.budget = -1          # flash bytes (a rename counts 1) before a PowerCut; -1: none
        self.writes = []          # (name, data) of every completed fs_write
        self.i2c = []
        self.rx = bytearray()
        self.tx = bytearray()
        self.pins = {}
        self.pin_writes = 0
        self.pin_reads = 0
        self.locked = False
        self.resets = 0
        self.leds = []
        pad = board["keypad"]
        self._cells = {}
        if pad["kind"] == "matrix":
            nc = len(pad["cols"])
            for i, name in enumerate(pad["keys"]):
                self._cells[name] = (pad["rows"][i // nc], pad["cols"][i % nc])

    # --- time ---
    def ticks_ms(self):
        return self.t

    def unix_time(self):
        return self.time

    def idle(self, ms):
        self.t += ms if ms >= 0 else 1000

    # --- GPIO ---
    def pin_out(self, num, value):
        pin = FakePin(self, num, True, value)
        self.pins[num] = pin
        return pin

    def pin_in(self, num, pull):
        assert pull == PULL_UP or num == self.board["power"]["pin"]
        pin = FakePin(self, num, False, 1)
        self.pins[num] = pin
        return pin

    def _pressed(self, name):
        down = name in self.keys
        left = self.bounce.get(name, 0)
        if left:
            self.bounce[name] = left - 1
            return not down
        return down

    def read_input(self, num):
        self.pin_reads += 1
        power = self.board["power"]
        if num == power["pin"]:
            down = self._pressed("POWER")
            return (0 if down else 1) if power.get("active_low", True) else (1 if down else 0)
        pad = self.board["keypad"]
        if pad["kind"] == "direct":
            for name in pad["direct"]:
                if pad["direct"][name] == num:
                    return 0 if self._pressed(name) else 1
            return 1
        # A column reads low when a held key joins it to a row the firmware drives low.
        for name in self.keys:
            cell = self._cells.get(name)
            if cell and cell[1] == num and self.pins[cell[0]].level == 0 and self._pressed(name):
                return 0
        return 1

    # --- I2C / serial / misc ---
    def i2c_write(self, addr, buf):
        self.i2c.append((addr, bytes(buf)))

    def serial_read(self):
        data = bytes(self.rx)
        self.rx = bytearray()
        return data

    def serial_write(self, data):
        self.tx.extend(data)

    def random_bytes(self, n):
        return bytes([(i * 37 + self.t) & 0xFF for i in range(n)])

    def led(self, on):
        self.leds.append(on)

    def lock_repl(self):
        self.locked = True

    def reset(self):
        self.resets += 1

    # --- flash ---
    def cut_after(self, n):
        self.budget = n

    def cut_during(self, n, fn, *args):
        """Run fn(*args) with the power cut after n flash units, then power back on.
        True when the cut happened (fn was interrupted)."""
        self.cut_after(n)
        try:
            fn(*args)
            cut = False
        except PowerCut:
            cut = True
        self.budget = -1
        return cut

    def _spend(self, n):
        """Spend n units of the power budget; return how many happened before the cut."""
        if self.budget < 0:
            return n
        if self.budget >= n:
            self.budget -= n
            return n
        done = self.budget
        self.budget = 0
        return done

    def fs_read(self, name):
        return self.flash.get(name)

    def fs_write(self, name, data):
        data = bytes(data)
        done = self._spend(len(data))
        self.flash[name] = data[:done]  # create/truncate, then the bytes that made it
        if done < len(data):
            raise PowerCut()
        self.writes.append((name, data))

    def fs_rename(self, src, dst):
        if src not in self.flash:
            raise OSError(2)
        if self.fat and dst in self.flash:
            # FAT refuses to rename over a file; dsc.hal_files then removes it and renames:
            # two operations, and the power may fail between them (1 unit each).
            if self._spend(1) < 1:
                raise PowerCut()
            del self.flash[dst]
        if self._spend(1) < 1:
            raise PowerCut()
        self.flash[dst] = self.flash.pop(src)

    def fs_remove(self, name):
        if name in self.flash:
            del self.flash[name]

    def fs_free(self):
        return 100000 - sum(len(v) for v in self.flash.values())


class Views:
    """A display double: remembers every distinct view it was asked to render."""

    def __init__(self):
        self.views = []

    def render(self, view):
        if not self.views or self.views[-1] != view:
            self.views.append(view)

    @property
    def last(self):
        return self.views[-1]


class NoService:
    def poll(self):
        return False


def run_for(app, hal, ms):
    """Step the app for ms of virtual time, at the pace it asks for (10 ms when it sleeps)."""
    end = hal.t + ms
    while hal.t < end:
        wait = app.step()
        hal.t += min(end - hal.t, wait if wait > 0 else 10)


def hold(app, hal, key, ms):
    hal.keys.add(key)
    run_for(app, hal, ms)
    hal.keys.discard(key)
    run_for(app, hal, 50)


def press(app, hal, key):
    hold(app, hal, key, 80)


def type_keys(app, hal, digits):
    for d in digits:
        press(app, hal, d)
