# The hardware-abstraction boundary. App and every driver talk to hardware only through an
# object with these methods. Implementations: dsc.hal_machine.MachineHal (a board),
# emulator.hal.EmuHal (the emulator, in-process) and emulator/mp/hal_bridge.py (the emulator's
# MicroPython runtime). See docs/architecture.md.

PULL_NONE = 0
PULL_UP = 1
PULL_DOWN = 2


class Hal:
    board = {}  # the BOARD literal of boards/<name>.py

    # --- time ---
    def ticks_ms(self) -> int:
        raise NotImplementedError

    def ticks_diff(self, a: int, b: int) -> int:
        return a - b

    def unix_time(self) -> "int | None":
        # Seconds since 1970-01-01 UTC from a set real-time clock, or None when the board does
        # not know the time (time-based OCRA suites need it).
        return None

    def set_unix_time(self, seconds: int) -> None:
        # Set the real-time clock (the service protocol's SET_TIME); OSError when it cannot.
        raise OSError(19)  # ENODEV: no clock to set

    def idle(self, ms: int) -> None:
        # Wait ms milliseconds; ms < 0: the card is off, sleep until POWER or serial wakes it.
        raise NotImplementedError

    # --- GPIO: the returned object has value() / value(v) like machine.Pin ---
    def pin_out(self, num: int, value: int):
        raise NotImplementedError

    def pin_in(self, num: int, pull: int):
        raise NotImplementedError

    # --- GPIO in groups: a whole keypad scan in one call ---
    # pin_group() is called once, with pin objects from pin_in/pin_out; read_group() then reads
    # the group at every scan. The base class does it pin by pin (MachineHal: a board has no
    # cheaper way); the emulator's MicroPython bridge sends the whole scan as one message.
    def pin_group(self, inputs: "list", rows: "list | tuple" = (), cols: "list | tuple" = ()):
        # inputs: pins read as they are. rows/cols (optional): a key matrix, scanned by driving
        # every row high, then each row low in turn while the columns are read, then every row
        # low again (the idle state: any key pulls its column low).
        return (inputs, rows, cols)

    def read_group(self, group, out) -> None:
        # out: a bytearray of len(inputs) + len(rows) * len(cols): each input's level, then each
        # matrix cell's column level (row by row). Allocates nothing.
        inputs, rows, cols = group
        n = len(inputs)
        for i in range(n):
            out[i] = inputs[i].value()
        if not rows:
            return
        nc = len(cols)
        for r in rows:
            r.value(1)
        for ri in range(len(rows)):
            rows[ri].value(0)
            base = n + ri * nc
            for ci in range(nc):
                out[base + ci] = cols[ci].value()
            rows[ri].value(1)
        for r in rows:
            r.value(0)

    # --- I2C (the display bus named by the board) ---
    def i2c_write(self, addr: int, buf) -> None:
        raise NotImplementedError

    def i2c_writes(self, addr: int, bufs) -> None:
        # Several write transactions in a row (a whole display flush); stops at the first that
        # fails. One bridge message in the emulator's MicroPython runtime.
        for buf in bufs:
            self.i2c_write(addr, buf)

    # --- flash: names are relative to the card's directory on the board's filesystem ---
    def fs_read(self, name: str):
        raise NotImplementedError

    def fs_write(self, name: str, data) -> None:
        raise NotImplementedError

    def fs_rename(self, src: str, dst: str) -> None:
        raise NotImplementedError

    def fs_remove(self, name: str) -> None:
        raise NotImplementedError

    def fs_free(self) -> int:
        return -1

    # --- serial (service protocol) ---
    def serial_read(self) -> bytes:
        return b""

    def serial_write(self, data) -> None:
        pass

    # --- misc ---
    def random_bytes(self, n: int) -> bytes:
        raise NotImplementedError

    def battery_mv(self) -> "int | None":
        return None

    def led(self, on: bool) -> None:
        pass

    def lock_repl(self) -> None:
        pass

    def reset(self) -> None:
        raise NotImplementedError
