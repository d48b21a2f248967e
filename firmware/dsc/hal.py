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

    # --- I2C (the display bus named by the board) ---
    def i2c_write(self, addr: int, buf) -> None:
        raise NotImplementedError

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
