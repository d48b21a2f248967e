# The HAL on a real board: the only firmware module that imports `machine`.
# Everything board-specific comes from the board file (boards/<name>.py), passed in as a dict.
import os
import sys
import time

import machine
import micropython

from dsc.hal import PULL_DOWN, PULL_UP
from dsc.hal_files import FileFlashHal

try:
    import esp32  # pyright: ignore[reportMissingImports]
except ImportError:  # not an ESP32 port
    esp32 = None

try:
    import select
except ImportError:
    select = None

_POLL_MS = 20            # the card is off but USB may be up: look for POWER/serial this often
_MAX_SLEEP_MS = 60000    # light sleep wakes at least this often (harmless, bounds surprises)
_EPOCH_2000 = 946684800  # seconds from 1970 to 2000 (ports whose time.time() counts from 2000)
_TIME_VALID = 1704067200  # 2024-01-01: an RTC before that was never set


class MachineHal(FileFlashHal):
    def __init__(self, board):
        FileFlashHal.__init__(self, board["flash"]["dir"])
        self.board = board
        self._i2c = _make_i2c(board)
        self._uart = None
        self._poll = None
        ser = board["serial"]
        if ser["kind"] == "uart" and not ser.get("repl"):
            self._uart = _make_uart(board)
        elif select is not None:  # USB CDC, or the UART that carries the REPL: via stdio
            self._poll = select.poll()
            self._poll.register(sys.stdin, select.POLLIN)
        led = board.get("led")
        self._led = machine.Pin(led, machine.Pin.OUT, value=0) if led is not None else None
        bat = board.get("battery")
        self._adc = _make_adc(bat["adc"]) if bat else None
        vbus = board.get("vbus")
        self._vbus = machine.Pin(vbus, machine.Pin.IN) if vbus is not None else None
        power = board["power"]
        self._power_low = bool(power.get("active_low", True))
        # The same pull as the keypad gives it: on rp2 and stm32 a Pin made without pull=
        # switches the pull off, and this pin must stay pulled while the board sleeps.
        self._power_pull = machine.Pin.PULL_UP if self._power_low else machine.Pin.PULL_DOWN
        self._power = machine.Pin(power["pin"], machine.Pin.IN, self._power_pull)
        self._epoch = _EPOCH_2000 if time.gmtime(0)[0] == 2000 else 0

    # --- time ---
    def ticks_ms(self) -> int:
        return time.ticks_ms()  # pyright: ignore[reportReturnType]

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)  # pyright: ignore[reportArgumentType]

    def unix_time(self):
        t = int(time.time()) + self._epoch
        return t if t >= _TIME_VALID else None

    def set_unix_time(self, seconds):
        # machine.RTC().datetime takes (year, month, day, weekday, hours, minutes, seconds,
        # subseconds) in the port's own epoch; time.gmtime gives weekday 0 = Monday too.
        y, mo, d, h, mi, s, wd = time.gmtime(seconds - self._epoch)[:7]
        machine.RTC().datetime((y, mo, d, wd, h, mi, s, 0))

    def idle(self, ms):
        if ms >= 0:
            time.sleep_ms(ms)
        elif self._may_sleep():
            self._sleep()
        else:
            time.sleep_ms(_POLL_MS)

    def _may_sleep(self):
        # Sleeping drops the USB CDC port, so only sleep when the board can tell that USB is
        # unplugged (a VBUS sense pin); a board without one stays awake and polls.
        kind = self.board.get("sleep")
        return kind is not None and self._vbus is not None and self._vbus.value() == 0

    def _sleep(self):
        if esp32 is not None:
            self._sleep_esp32()
            return
        # rp2, stm32: a pin interrupt ends a light sleep; on rp2 only one that has a handler,
        # and only a sleep with a timeout (machine.lightsleep() without one, and deepsleep()
        # without one, enter DORMANT, which no Pin.irq ends). Plugging USB in (VBUS rising)
        # wakes the board too, so the serial port comes up at once.
        wakes = [(self._power, machine.Pin.IRQ_FALLING if self._power_low
                  else machine.Pin.IRQ_RISING)]
        if self._vbus is not None:
            wakes.append((self._vbus, machine.Pin.IRQ_RISING))
        for pin, trigger in wakes:
            pin.irq(handler=_wake, trigger=trigger)
        try:
            if self.board.get("sleep") == "deepsleep":
                machine.deepsleep(_MAX_SLEEP_MS)  # rp2: a light sleep, then a reset
            machine.lightsleep(_MAX_SLEEP_MS)
        finally:
            for pin, _trigger in wakes:
                pin.irq(handler=None)

    def _sleep_esp32(self):
        # ext0: the chip wakes when the RTC GPIO reaches the level. It cannot also watch VBUS
        # (ext0 takes one pin), so plugging USB in is noticed at the next timed wake-up.
        esp32.wake_on_ext0(pin=self._power, level=0 if self._power_low else 1)  # pyright: ignore
        if self.board.get("sleep") == "deepsleep":
            machine.deepsleep()  # wakes through a reset: main.py starts over
        machine.lightsleep(_MAX_SLEEP_MS)
        # ext0 left the pin an RTC IO, which the digital input no longer reads; a mode-setting
        # init makes it a digital input again (MicroPython calls rtc_gpio_deinit).
        self._power.init(machine.Pin.IN, self._power_pull)

    # --- GPIO ---
    def pin_out(self, num, value):
        return machine.Pin(num, machine.Pin.OUT, value=value)

    def pin_in(self, num, pull):
        if pull == PULL_UP:
            return machine.Pin(num, machine.Pin.IN, machine.Pin.PULL_UP)
        if pull == PULL_DOWN:
            return machine.Pin(num, machine.Pin.IN, machine.Pin.PULL_DOWN)
        return machine.Pin(num, machine.Pin.IN)

    # --- I2C ---
    def i2c_write(self, addr, buf):
        self._i2c.writeto(addr, buf)

    # --- serial ---
    def serial_read(self):
        if self._uart is not None:
            return self._uart.read() or b""
        if self._poll is None:
            return b""
        out = b""
        while len(out) < 256 and self._poll.poll(0):
            out += sys.stdin.buffer.read(1) or b""
        return out

    def serial_write(self, data):
        if self._uart is not None:
            self._uart.write(data)
        else:
            sys.stdout.buffer.write(data)

    # --- misc ---
    def random_bytes(self, n):
        return os.urandom(n)

    def battery_mv(self):
        adc = self._adc
        if adc is None:
            return None
        divider = self.board["battery"].get("divider", 1.0)
        read_uv = getattr(adc, "read_uv", None)
        if read_uv is not None:  # esp32: calibrated microvolts (the raw scale is not linear)
            return int(read_uv() * divider) // 1000
        return int(adc.read_u16() * 3300 * divider) // 65535  # 3.3 V reference (rp2, stm32)

    def led(self, on):
        if self._led is not None:
            self._led.value(1 if on else 0)

    def lock_repl(self):
        micropython.kbd_intr(-1)  # Ctrl-C no longer interrupts: the REPL cannot be reached

    def reset(self):
        machine.reset()


def _wake(pin):
    pass  # the interrupt itself ends the light sleep




def _make_uart(board):
    ser = board["serial"]
    baud = ser.get("baud", 115200)
    if board["port"] == "stm32":  # fixed pins per UART id, no tx=/rx= arguments
        return machine.UART(ser["id"], baudrate=baud)
    return machine.UART(ser["id"], baudrate=baud, tx=machine.Pin(ser["tx"]),
                        rx=machine.Pin(ser["rx"]))


def _make_adc(pin):
    # esp32 ADCs start at 0 dB attenuation (about 1.1 V full scale), which a cell behind a
    # 1/2 divider saturates; 11 dB reads up to about 2.5-3.1 V. Other ports have no atten=.
    atten = getattr(machine.ADC, "ATTN_11DB", None)
    if esp32 is not None and atten is not None:
        return machine.ADC(machine.Pin(pin), atten=atten)  # pyright: ignore[reportCallIssue]
    return machine.ADC(machine.Pin(pin))


def _make_i2c(board):
    disp = board["display"]
    if board["port"] == "stm32":
        # The pyboard's hardware I2C buses have fixed pins (I2C(1): X9 SCL, X10 SDA).
        return machine.I2C(disp["bus"], freq=disp["freq"])
    return machine.I2C(disp["bus"], sda=machine.Pin(disp["sda"]), scl=machine.Pin(disp["scl"]),
                       freq=disp["freq"])
