# MachineHal (dsc/hal_machine.py), the one module that talks to `machine`, against fake
# `machine`, `esp32`, `micropython`, `time`, `os` and `select` modules: the calls it makes on
# each port (pins and their pulls, the I2C and UART constructors, sleep and wake, the ADC,
# the REPL lock) are checked without a board. Runs on CPython and both MicroPython VMs.
#
# Port facts these fakes stand for (MicroPython's ports/*/machine_pin.c, modmachine.c):
# - rp2 and stm32: Pin(n, Pin.IN) without pull= switches the pull off; esp32 leaves it.
# - rp2: a Pin.irq ends machine.lightsleep(ms) only with a timeout and a handler set;
#   deepsleep() without a timeout enters DORMANT, which no Pin.irq ends.
# - esp32: ext0 wake-up turns the pin into an RTC IO; a Pin.init() with a mode makes it a
#   digital input again (it calls rtc_gpio_deinit).
# - esp32: ADC starts at 0 dB attenuation (about 1.1 V full scale); read_uv() is calibrated.
import sys

from mptest import main, raises, test

LOG = []


class FakePin:
    IN = 1
    OUT = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8
    levels = {}

    def __init__(self, id, mode=None, pull=None, value=None):
        self.id = id
        LOG.append(("Pin", id, mode, pull))

    def init(self, mode=None, pull=None):
        LOG.append(("init", self.id, mode, pull))

    def value(self, v=None):
        if v is None:
            return FakePin.levels.get(self.id, 1)
        FakePin.levels[self.id] = v
        return None

    def irq(self, handler=None, trigger=None):
        LOG.append(("irq", self.id, handler is not None, trigger))


class FakeI2C:
    def __init__(self, id, **kw):
        LOG.append(("I2C", id, sorted(kw)))


class FakeUART:
    def __init__(self, id, **kw):
        LOG.append(("UART", id, sorted(kw)))


class FakeADC:
    ATTN_11DB = 3

    def __init__(self, pin, **kw):
        LOG.append(("ADC", pin.id, kw.get("atten")))

    def read_u16(self):
        return 65535

    def read_uv(self):
        return 2100000  # 2.1 V at the pin


class PlainADC:  # rp2 and stm32: no attenuation, no read_uv
    def __init__(self, pin):
        LOG.append(("ADC", pin.id, None))

    def read_u16(self):
        return 65535


class FakeMachine:
    Pin = FakePin
    I2C = FakeI2C
    UART = FakeUART
    ADC = PlainADC

    def lightsleep(self, *args):
        LOG.append(("lightsleep",) + args)  # noqa: RUF005 (MicroPython subset)

    def deepsleep(self, *args):
        LOG.append(("deepsleep",) + args)  # noqa: RUF005 (MicroPython subset)

    def reset(self):
        LOG.append(("reset",))

    class RTC:
        def datetime(self, when):
            LOG.append(("rtc", tuple(when)))


class FakeEsp32:
    WAKEUP_ANY_HIGH = True

    def wake_on_ext0(self, pin=None, level=None):
        LOG.append(("ext0", pin.id, level))


class FakeMicropython:
    def kbd_intr(self, c):
        LOG.append(("kbd_intr", c))

    def const(self, x):
        return x


import time as _real_time  # noqa: E402


class FakeTime:
    epoch_year = 1970
    now = 1700000000

    def ticks_ms(self):
        return 0

    def ticks_diff(self, a, b):
        return a - b

    def sleep_ms(self, ms):
        LOG.append(("sleep_ms", ms))

    def time(self):
        return FakeTime.now

    def gmtime(self, t=0):
        if t == 0:
            return (FakeTime.epoch_year, 1, 1, 0, 0, 0, 0, 1)
        # the VM's own gmtime (1970-based), shifted as a port counting from 2000 has it
        return _real_time.gmtime(t + (946684800 if FakeTime.epoch_year == 2000 else 0))


class FakeOs:
    files = set()

    def mkdir(self, path):
        LOG.append(("mkdir", path))

    def rename(self, src, dst):
        if src not in FakeOs.files:
            raise OSError(2)
        if dst in FakeOs.files:  # FAT: no rename over an existing file
            raise OSError(17)
        FakeOs.files.discard(src)
        FakeOs.files.add(dst)
        LOG.append(("rename", src, dst))

    def remove(self, path):
        if path not in FakeOs.files:
            raise OSError(2)
        FakeOs.files.discard(path)
        LOG.append(("remove", path))

    def statvfs(self, path):
        return (4096, 4096, 100, 25, 25, 0, 0, 0, 0, 255)

    def urandom(self, n):
        return bytes(n)


class FakeSelect:
    POLLIN = 1

    class poll:
        def register(self, stream, mask):
            LOG.append(("register", mask))

        def poll(self, timeout):
            return []


# dsc.hal_machine imports machine and micropython at load time: give it stand-ins where the VM
# has none (CPython, the wasm build), then swap in the recording fakes module by module.
sys.modules["machine"] = FakeMachine()
try:
    import micropython  # noqa: F401
except ImportError:
    sys.modules["micropython"] = FakeMicropython()
from dsc import hal_files as hf  # noqa: E402
from dsc import hal_machine as hm  # noqa: E402

hm.machine = FakeMachine()
hm.micropython = FakeMicropython()
hm.time = FakeTime()
hm.os = FakeOs()
hf.os = hm.os  # the flash calls live in dsc.hal_files (MachineHal's base)
hm.select = FakeSelect

from esp32_devkitc import BOARD as ESP32  # noqa: E402
from pico import BOARD as PICO  # noqa: E402
from pyboard import BOARD as PYBOARD  # noqa: E402


def board(base, **changes):
    b = {}
    for k in base:
        b[k] = base[k]
    for k in changes:
        b[k] = changes[k]
    return b


def make(base, esp=None, adc=PlainADC, **changes):
    hm.esp32 = esp
    FakeMachine.ADC = adc
    FakePin.levels = {}
    del LOG[:]
    return hm.MachineHal(board(base, **changes))


def logged(kind):
    return [e for e in LOG if e[0] == kind]


@test
def test_power_pin_is_made_with_its_pull():
    # rp2/stm32 clear the pull of a pin made without one: the wake-up pin must keep its pull-up.
    make(PICO)
    power = [e for e in logged("Pin") if e[1] == PICO["power"]["pin"]]
    assert power == [("Pin", 15, FakePin.IN, FakePin.PULL_UP)], power
    make(PICO, power={"pin": 15, "active_low": False})
    power = [e for e in logged("Pin") if e[1] == 15]
    assert power == [("Pin", 15, FakePin.IN, FakePin.PULL_DOWN)], power


@test
def test_i2c_constructor_per_port():
    make(PICO)
    assert logged("I2C") == [("I2C", 0, ["freq", "scl", "sda"])], LOG
    make(ESP32, esp=FakeEsp32())
    assert logged("I2C") == [("I2C", 0, ["freq", "scl", "sda"])], LOG
    make(PYBOARD)  # stm32: hardware I2C buses have fixed pins
    assert logged("I2C") == [("I2C", 1, ["freq"])], LOG


@test
def test_uart_constructor_per_port():
    make(PICO, serial={"kind": "uart", "id": 1, "tx": 4, "rx": 5, "baud": 9600})
    assert logged("UART") == [("UART", 1, ["baudrate", "rx", "tx"])], LOG
    assert logged("register") == []
    make(PYBOARD, serial={"kind": "uart", "id": 6, "tx": "Y1", "rx": "Y2"})
    assert logged("UART") == [("UART", 6, ["baudrate"])], LOG  # stm32: fixed pins
    make(ESP32, esp=FakeEsp32())  # UART0 carries the REPL: read through stdin instead
    assert logged("UART") == [] and logged("register") == [("register", 1)], LOG


@test
def test_no_sleep_while_usb_powers_the_board():
    hal = make(PICO)
    FakePin.levels[PICO["vbus"]] = 1
    hal.idle(-1)
    assert logged("lightsleep") == [] and logged("sleep_ms") == [("sleep_ms", 20)], LOG
    hal = make(PICO, vbus=None)  # cannot tell: stay awake
    hal.idle(-1)
    assert logged("lightsleep") == [] and logged("sleep_ms") == [("sleep_ms", 20)], LOG
    hal.idle(7)
    assert logged("sleep_ms")[-1] == ("sleep_ms", 7)


@test
def test_rp2_light_sleep_ends_on_power_or_usb():
    hal = make(PICO)
    FakePin.levels[PICO["vbus"]] = 0
    del LOG[:]
    hal.idle(-1)
    irqs = logged("irq")
    assert ("irq", 15, True, FakePin.IRQ_FALLING) in irqs, LOG
    assert ("irq", 24, True, FakePin.IRQ_RISING) in irqs, LOG  # plugging USB in wakes too
    sleeps = logged("lightsleep")
    assert len(sleeps) == 1 and len(sleeps[0]) == 2 and sleeps[0][1] > 0, LOG
    # Interrupts are armed before the sleep and disarmed after it.
    at = LOG.index(sleeps[0])
    assert max(LOG.index(e) for e in irqs if e[2]) < at, LOG
    assert ("irq", 15, False, None) in LOG[at:] and ("irq", 24, False, None) in LOG[at:], LOG


@test
def test_rp2_deep_sleep_has_a_timeout():
    hal = make(PICO, sleep="deepsleep")
    FakePin.levels[PICO["vbus"]] = 0
    hal.idle(-1)
    deep = logged("deepsleep")
    assert len(deep) == 1 and len(deep[0]) == 2 and deep[0][1] > 0, LOG


@test
def test_esp32_sleep_wakes_on_ext0_and_gives_the_pin_back():
    hal = make(ESP32, esp=FakeEsp32())
    FakePin.levels[ESP32["vbus"]] = 0
    del LOG[:]
    hal.idle(-1)
    assert logged("ext0") == [("ext0", 27, 0)], LOG
    assert logged("irq") == [], LOG
    at = LOG.index(logged("lightsleep")[0])
    # After the wake-up the pin is an RTC IO until re-initialised as a digital input.
    assert ("init", 27, FakePin.IN, FakePin.PULL_UP) in LOG[at:], LOG
    hal = make(ESP32, esp=FakeEsp32(), sleep="deepsleep")
    FakePin.levels[ESP32["vbus"]] = 0
    hal.idle(-1)
    assert logged("deepsleep") == [("deepsleep",)], LOG  # ext0 ends it through a reset


@test
def test_esp32_battery_reads_the_whole_cell_range():
    hal = make(ESP32, esp=FakeEsp32(), adc=FakeADC)
    assert logged("ADC") == [("ADC", 35, FakeADC.ATTN_11DB)], LOG
    assert hal.battery_mv() == 4200  # 2.1 V at the pin through the 1/2 divider


@test
def test_rp2_battery_scales_the_16_bit_reading():
    hal = make(PICO)
    assert logged("ADC") == [("ADC", 29, None)], LOG
    assert hal.battery_mv() == 9900  # full scale 3.3 V through the 1/3 divider
    assert make(PYBOARD).battery_mv() is None


@test
def test_lock_repl_disables_ctrl_c():
    hal = make(PICO)
    hal.lock_repl()
    assert logged("kbd_intr") == [("kbd_intr", -1)]


@test
def test_rename_over_a_file_on_fat_removes_it_first():
    hal = make(PYBOARD)
    FakeOs.files = set(["/flash/dsc/record", "/flash/dsc/record.new"])
    hal.fs_rename("record.new", "record")
    assert FakeOs.files == set(["/flash/dsc/record"]), FakeOs.files
    assert logged("remove") == [("remove", "/flash/dsc/record")], LOG
    raises(OSError, hal.fs_rename, "missing", "other")
    hal.fs_remove("missing")  # no error
    assert hal.fs_free() == 4096 * 25


@test
def test_makes_the_card_directory():
    make(PYBOARD)
    assert logged("mkdir") == [("mkdir", "/flash"), ("mkdir", "/flash/dsc")], LOG


@test
def test_unix_time_counts_from_1970_and_ignores_an_unset_clock():
    FakeTime.epoch_year = 2000
    FakeTime.now = 1000000000 - 946684800
    hal = make(PICO)
    assert hal.unix_time() is None  # 2001: never set
    FakeTime.now = 1750000000 - 946684800
    assert hal.unix_time() == 1750000000
    FakeTime.epoch_year = 1970
    hal = make(PICO)
    assert hal.unix_time() == 1750000000 - 946684800 or hal.unix_time() is None
    FakeTime.now = 1750000000
    assert hal.unix_time() == 1750000000


@test
def test_set_unix_time_sets_the_rtc_in_the_ports_epoch():
    # 1750000000 is 2025-06-15 15:06:40 UTC, a Sunday (RTC weekday 6, Monday = 0).
    for year in (1970, 2000):
        FakeTime.epoch_year = year
        hal = make(PICO)
        hal.set_unix_time(1750000000)
        assert logged("rtc") == [("rtc", (2025, 6, 15, 6, 15, 6, 40, 0))], (year, LOG)
    FakeTime.epoch_year = 1970


main()
