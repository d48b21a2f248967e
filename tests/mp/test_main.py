# firmware/main.py, the boot entry, run as a board runs it, with stand-ins for the board file,
# build_config.py, MachineHal and the micropython module: Ctrl-C is off before anything else
# happens, back on only for a development card that is not LOCKed, and a production card that
# fails to start retries instead of stopping with a traceback. Runs on CPython and both
# MicroPython VMs.
import sys

from dsc import record
from fakehal import PICO, FakeHal
from mptest import main, test

LOG = []
KEY = b"12345678901234567890123456789012"


class Stop(BaseException):
    """Ends App.run() (which never returns) once the test has seen enough."""


class Module:
    pass


class FakeMicropython:
    def kbd_intr(self, c):
        LOG.append(("kbd_intr", c))

    def const(self, x):
        return x


class FakeTime:
    def sleep_ms(self, ms):
        LOG.append(("sleep_ms", ms))

    def sleep(self, s):
        LOG.append(("sleep_ms", int(s * 1000)))


class BoardHal(FakeHal):
    flash = {}
    failures = 0  # constructions that raise OSError before one succeeds

    def __init__(self, board):
        if BoardHal.failures:
            BoardHal.failures -= 1
            LOG.append(("hal failed",))
            raise OSError(5)
        FakeHal.__init__(self, board, flash=BoardHal.flash)
        self.rounds = 0
        LOG.append(("hal",))

    def idle(self, ms):
        self.rounds += 1
        self.t += 10
        if self.rounds > 3:
            raise Stop()

    def lock_repl(self):
        LOG.append(("kbd_intr", -1))


def main_source():
    for p in sys.path:
        try:
            with open(p + "/main.py") as f:
                return f.read()
        except OSError:
            pass
    raise AssertionError("firmware/main.py not on the path")


SOURCE = main_source()


def boot(production=False, locked=None, failures=0):
    """Run main.py once; return what it raised (Stop when it reached App.run())."""
    del LOG[:]
    BoardHal.flash = {}
    BoardHal.failures = failures
    if locked is not None:
        record.save(FakeHal(PICO, flash=BoardHal.flash),
                    record.Record("DSC1", "OCRA-1:HOTP-SHA256-8:QN06-PSHA1", KEY, KEY,
                                  locked=locked))
    saved = {}
    for name in ("micropython", "time", "board", "build_config", "dsc.hal_machine"):
        saved[name] = sys.modules.get(name)
    board = Module()
    board.BOARD = PICO
    hal_machine = Module()
    hal_machine.MachineHal = BoardHal
    sys.modules["micropython"] = FakeMicropython()
    sys.modules["time"] = FakeTime()
    sys.modules["board"] = board
    sys.modules["dsc.hal_machine"] = hal_machine
    if production:
        config = Module()
        config.PRODUCTION = True
        sys.modules["build_config"] = config
    elif "build_config" in sys.modules:
        del sys.modules["build_config"]
    try:
        exec(SOURCE, {"__name__": "__main__"})
    except BaseException as e:  # Stop, or what main.py let through
        return e
    finally:
        for name in saved:
            if saved[name] is None:
                if name in sys.modules:
                    del sys.modules[name]
            else:
                sys.modules[name] = saved[name]
    return None


@test
def test_ctrl_c_is_off_before_the_hal_starts():
    for production, locked in ((False, None), (False, False), (False, True), (True, None)):
        assert isinstance(boot(production, locked), Stop), LOG
        assert LOG[0] == ("kbd_intr", -1), (production, locked, LOG)
        assert LOG.index(("hal",)) > 0


@test
def test_a_development_card_gives_ctrl_c_back():
    assert isinstance(boot(False, None), Stop)  # blank
    assert LOG[-1] == ("kbd_intr", 3), LOG
    assert isinstance(boot(False, False), Stop)  # provisioned, not LOCKed
    assert LOG[-1] == ("kbd_intr", 3), LOG


@test
def test_production_and_locked_cards_keep_ctrl_c_off():
    for production, locked in ((False, True), (True, None), (True, False)):
        assert isinstance(boot(production, locked), Stop), LOG
        assert ("kbd_intr", 3) not in LOG, (production, locked, LOG)


@test
def test_production_retries_a_failed_start():
    assert isinstance(boot(True, False, failures=2), Stop), LOG
    assert LOG.count(("hal failed",)) == 2 and ("hal",) in LOG, LOG
    assert ("sleep_ms", 1000) in LOG, LOG
    assert ("kbd_intr", 3) not in LOG


@test
def test_development_start_failure_reaches_the_repl():
    e = boot(False, None, failures=1)
    assert isinstance(e, OSError), (e, LOG)
    assert LOG[0] == ("kbd_intr", -1) and ("kbd_intr", 3) not in LOG, LOG


main()
