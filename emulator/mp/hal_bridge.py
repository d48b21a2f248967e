# The HAL for the emulator's MicroPython runtime: the firmware runs on the MicroPython unix
# port and every hardware call is forwarded to the emulator process, which owns the virtual
# hardware (the same EmuHal the CPython runtime uses). MicroPython subset, no host imports.
#
# Wire format: one ASCII line per message, first byte the operation, bytes and names in hex.
# Calls that return nothing (pin set-up and writes, serial output, LED) are queued and sent
# with the next call that needs an answer, or at the end of the step: order is kept, and
# every pin read still travels to the emulator, after the writes queued before it. A keypad
# scan (Hal.read_group) is one message: the emulator drives the rows and reads the columns in the
# order the base Hal would, on the same virtual pins.
#   bridge -> emulator                      emulator -> bridge
#   o<pin> <v>   pin_out                    (queued, no answer)
#   i<pin> <pull> pin_in                    (queued)
#   w<pin> <v>   pin value(v)               (queued)
#   r<pin>       pin value()                0 | 1
#   g<in,..> <rows,..> <cols,..>  read_group: a whole keypad scan  <a 0|1 digit per level>
#   c<addr> <hex> [<hex> ...]  i2c_write(s) . | E<errno> (the writes stop at the first error)
#   f<name>      fs_read                    - (missing) | +<hex>
#   F<name> <hex> fs_write                  . | E<errno>
#   m<src> <dst> fs_rename                  . | E<errno>
#   x<name>      fs_remove                  . | E<errno>
#   z            fs_free                    <int>
#   s<hex>       serial_write               (queued)
#   n<count>     random_bytes               <hex>
#   b            battery_mv                 <int> | -
#   l<0|1>       led                        (queued)
#   L            lock_repl                  (queued)
#   t<seconds>   set_unix_time              (queued)
#   X            reset                      (the process ends; the emulator starts a new one)
#   v<hex json>  the REPL's file calls      +<hex json> | E<errno>   (see cardvfs.py)
#   V<hex path>  the REPL reads a file      +<hex bytes> | E<errno>
# Pins are numbers, or 'NAME for ports that name pins (pyboard "X1").
# Time and serial input come with each step request (see runner.py): while a step runs the
# virtual clock stands still, so ticks_ms() needs no round trip, and serial_read() returns
# what had arrived when the step began.
import sys
from binascii import hexlify, unhexlify

try:
    from dsc.hal import Hal
except ImportError:  # booting from the card's flash (runner.py): no firmware on the path yet
    Hal = object

_TICKS_PERIOD = 1 << 30
_TICKS_HALF = _TICKS_PERIOD // 2


def _pin_id(num):
    if isinstance(num, int):
        return str(num).encode()
    return b"'" + str(num).encode()


def _name(name):
    return hexlify(name.encode())


class BridgePin:
    def __init__(self, hal, pid):
        self._hal = hal
        self._pid = pid

    def value(self, v=None):
        if v is None:
            return 1 if self._hal._call(b"r" + self._pid) == b"1" else 0
        self._hal._queue.append(b"w" + self._pid + (b" 1\n" if v else b" 0\n"))
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class BridgeHal(Hal):
    def __init__(self, rfile, wfile, board):
        self._in = rfile
        self._out = wfile
        self._queue = []
        self.board = board
        self.now = 0
        self.unix = None
        self.rx = b""
        self.calls = 0
        self.resetting = False  # reset() is on its way out: not a soft reset (runner.py)

    # --- plumbing ---
    def _call(self, msg):
        q = self._queue
        q.append(msg + b"\n")
        self._out.write(b"".join(q))
        del q[:]
        self.calls += 1
        reply = _readline(self._in)
        if not reply:
            sys.exit(1)  # the emulator went away
        return reply[:-1]

    def flush(self):
        q = self._queue
        if q:
            self._out.write(b"".join(q))
            del q[:]

    def _check(self, reply):
        if reply[:1] == b"E":
            raise OSError(int(reply[1:]))

    # --- time ---
    def ticks_ms(self):
        return self.now

    def ticks_diff(self, a, b):
        return ((a - b + _TICKS_HALF) & (_TICKS_PERIOD - 1)) - _TICKS_HALF

    def unix_time(self):
        return self.unix

    def set_unix_time(self, seconds):
        self.unix = int(seconds)  # this step reads it back; the emulator keeps it from now on
        self._queue.append(b"t" + str(self.unix).encode() + b"\n")

    def idle(self, ms):
        raise RuntimeError("the emulator drives App.step(); App.run() is not supported")

    # --- GPIO ---
    def pin_out(self, num, value):
        pid = _pin_id(num)
        self._queue.append(b"o" + pid + (b" 1\n" if value else b" 0\n"))
        return BridgePin(self, pid)

    def pin_in(self, num, pull):
        pid = _pin_id(num)
        self._queue.append(b"i" + pid + b" " + str(pull).encode() + b"\n")
        return BridgePin(self, pid)

    def pin_group(self, inputs, rows=(), cols=()):
        def ids(pins):
            return b",".join([p._pid for p in pins])

        return (b"g" + ids(inputs) + b" " + ids(rows) + b" " + ids(cols),
                len(inputs) + len(rows) * len(cols))

    def read_group(self, group, out):
        reply = self._call(group[0])
        for i in range(group[1]):
            out[i] = reply[i] - 48  # b"0" / b"1"

    # --- I2C ---
    def i2c_write(self, addr, buf):
        self._check(self._call(b"c" + str(addr).encode() + b" " + hexlify(buf)))

    def i2c_writes(self, addr, bufs):
        self._check(self._call(b"c" + str(addr).encode() + b" " +
                               b" ".join([hexlify(b) for b in bufs])))

    # --- flash ---
    def fs_read(self, name):
        reply = self._call(b"f" + _name(name))
        self._check(reply)
        if reply == b"-":
            return None
        return unhexlify(reply[1:])

    def fs_write(self, name, data):
        self._check(self._call(b"F" + _name(name) + b" " + hexlify(data)))

    def fs_rename(self, src, dst):
        self._check(self._call(b"m" + _name(src) + b" " + _name(dst)))

    def fs_remove(self, name):
        self._check(self._call(b"x" + _name(name)))

    def fs_free(self):
        return int(self._call(b"z"))

    # --- serial ---
    def serial_read(self):
        data = self.rx
        self.rx = b""
        return data

    def serial_write(self, data):
        if data:
            self._queue.append(b"s" + hexlify(data) + b"\n")

    # --- misc ---
    def random_bytes(self, n):
        return unhexlify(self._call(b"n" + str(n).encode()))

    def battery_mv(self):
        reply = self._call(b"b")
        return None if reply == b"-" else int(reply)

    def led(self, on):
        self._queue.append(b"l1\n" if on else b"l0\n")

    def lock_repl(self):
        self._queue.append(b"L\n")

    def reset(self):
        self._queue.append(b"X\n")
        self.flush()
        self.resetting = True
        sys.exit(0)


def _readline(f):
    # The emulator interrupts running REPL code with SIGINT (Ctrl-C on the serial line); one
    # that lands while a call waits for its answer is raised once the answer is in, so the
    # two sides never lose step.
    pending = None
    while True:
        try:
            line = f.readline()
            break
        except KeyboardInterrupt as e:
            pending = e
    if pending is not None:
        raise pending
    return line
