"""The whole firmware App on CPython, driven through the fake HAL's key matrix and clock."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mp"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "boards"))
from dsc import record
from dsc.app import App
from dsc.record import Record
from fakehal import (
    PICO,
    FakeHal,
    NoService,
    PowerCut,
    Views,
    hold,
    press,
    run_for,
    type_keys,
)
from ocra_reference import reference_response

KEY = b"12345678901234567890123456789012"  # the RFC 6287 test key for HMAC-SHA256
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
C_SUITE = "OCRA-1:HOTP-SHA256-8:C-QN06-PSHA1"
ADMIN = bytes(range(100, 132))


def provisioned(suite: str = SUITE, **fields: Any) -> FakeHal:
    hal = FakeHal(PICO)
    record.save(hal, Record("DSC00000042", suite, KEY, ADMIN, **fields))
    return hal


def boot(hal: FakeHal, **kw: Any) -> tuple[App, Views]:
    views = Views()
    app = App(hal, display=views, service=NoService(), **kw)
    run_for(app, hal, 100)
    return app, views


def login(app: App, hal: FakeHal, pin: str, challenge: str) -> None:
    hold(app, hal, "POWER", 1100)
    type_keys(app, hal, pin)
    press(app, hal, "OK")
    type_keys(app, hal, challenge)
    press(app, hal, "OK")


def test_login_gives_the_rfc_response() -> None:
    hal = provisioned()
    app, views = boot(hal)
    login(app, hal, "1234", "123456")
    expected = reference_response(SUITE, KEY, "123456", pin="1234")
    assert views.last == ("response", expected)
    assert ("pin", 4, 4) in views.views and ("challenge", "123456", 6) in views.views
    assert views.views[:2] == [("off",), ("pin", 0, 4)]
    assert hal.leds[-1] is True


def test_clr_and_too_short_through_the_keypad() -> None:
    hal = provisioned()
    app, views = boot(hal)
    hold(app, hal, "POWER", 1100)
    type_keys(app, hal, "19")
    press(app, hal, "CLR")
    type_keys(app, hal, "2")
    press(app, hal, "OK")
    assert views.last == ("message", "TOO SHORT", "")
    run_for(app, hal, 1500)
    assert views.last == ("pin", 2, 4)
    type_keys(app, hal, "34")
    press(app, hal, "OK")
    type_keys(app, hal, "654321")
    press(app, hal, "OK")
    assert views.last == ("response", reference_response(SUITE, KEY, "654321", pin="1234"))


def test_auto_off_while_typing_and_on_the_response() -> None:
    hal = provisioned(idle_ms=20000, response_ms=45000)
    app, views = boot(hal)
    hold(app, hal, "POWER", 1100)
    run_for(app, hal, 19000)
    assert views.last == ("pin", 0, 4)
    run_for(app, hal, 1500)
    assert views.last == ("off",)
    assert app.step() == -1
    login(app, hal, "1234", "000000")
    assert views.last[0] == "response"
    run_for(app, hal, 44000)
    assert views.last[0] == "response"
    run_for(app, hal, 1500)
    assert views.last == ("off",)
    assert hal.leds[-1] is False


def test_power_short_press_turns_the_card_off() -> None:
    hal = provisioned()
    app, views = boot(hal)
    hold(app, hal, "POWER", 300)  # off: a short press does nothing
    assert views.last == ("off",)
    hold(app, hal, "POWER", 1100)
    type_keys(app, hal, "12")
    assert app.step() == 10
    hold(app, hal, "POWER", 300)
    assert views.last == ("off",)
    hold(app, hal, "POWER", 1100)
    assert views.last == ("pin", 0, 4)  # what was typed is gone


def test_blank_card_says_not_provisioned() -> None:
    hal = FakeHal(PICO)
    app, views = boot(hal)
    assert app.record is None and app.record_error is None
    hold(app, hal, "POWER", 1100)
    assert views.last == ("message", "NOT", "PROVISIONED")
    run_for(app, hal, 30000)
    assert views.last == ("off",)


def test_counter_suite_saves_the_next_counter_before_the_response() -> None:
    hal = provisioned(C_SUITE, counter=41)
    app, views = boot(hal)
    login(app, hal, "1234", "111111")
    assert views.last == ("response", reference_response(C_SUITE, KEY, "111111", counter=41,
                                                         pin="1234"))
    assert record.load(hal).counter == 42 and app.record.counter == 42
    hold(app, hal, "POWER", 200)
    login(app, hal, "1234", "111111")
    assert views.last == ("response", reference_response(C_SUITE, KEY, "111111", counter=42,
                                                         pin="1234"))
    # A reboot keeps the counter.
    app, views = boot(FakeHal(PICO, flash=hal.flash))
    assert app.record.counter == 43


def test_power_cut_during_the_counter_save_never_shows_a_response() -> None:
    size = len(record.encode(Record("DSC00000042", C_SUITE, KEY, ADMIN))) + 1
    outcomes = set()
    for n in range(size):
        hal = provisioned(C_SUITE, counter=5)
        app, views = boot(hal)
        hold(app, hal, "POWER", 1100)
        type_keys(app, hal, "1234")
        press(app, hal, "OK")
        type_keys(app, hal, "11111")
        hal.cut_after(n)
        with pytest.raises(PowerCut):
            press(app, hal, "1")
            press(app, hal, "OK")
        assert views.last[0] != "response"
        hal.budget = -1
        outcomes.add(record.load(FakeHal(PICO, flash=dict(hal.flash))).counter)
    assert outcomes == {5}  # the rename is the last unit: every cut before it keeps the old


@pytest.mark.parametrize("fresh", [False, True])
def test_power_cut_at_every_byte_of_every_save_write(fresh: bool) -> None:
    old = Record("DSC00000001", SUITE, b"\x11" * 20, ADMIN, counter=1)
    new = Record("DSC00000002", C_SUITE, KEY, ADMIN[::-1], pin_len=6, counter=2)
    size = len(record.encode(new)) + 1
    for n in range(size + 1):
        hal = FakeHal(PICO)
        if not fresh:
            record.save(hal, old)
        hal.cut_during(n, record.save, hal, new)
        app, _views = boot(FakeHal(PICO, flash=dict(hal.flash)))
        assert app.record_error is None, n
        got = app.record
        # A whole "record.new" without "record" is adopted (a replace cut on FAT), so a blank
        # card that lost power just before the rename comes up with the new record.
        if n >= size or (fresh and n == size - 1):
            assert got is not None and got.serial == "DSC00000002" and got.secret == KEY, n
        elif fresh:
            assert got is None, n
        else:
            assert got is not None and got.serial == "DSC00000001" and got.counter == 1, n


def test_a_failed_counter_save_shows_an_error_not_a_response() -> None:
    hal = provisioned(C_SUITE)

    def full(name: str, data: bytes) -> None:
        raise OSError(28, "no space")

    hal.fs_write = full  # type: ignore[method-assign]
    app, views = boot(hal)
    login(app, hal, "1234", "123456")
    assert views.last == ("message", "SAVE ERROR", "TRY AGAIN")
    assert app.record.counter == 0


def test_corrupt_record_shows_an_error_view() -> None:
    hal = provisioned()
    data = bytearray(hal.flash["record"])
    data[30] ^= 1
    hal.flash["record"] = bytes(data)
    app, views = boot(hal)
    assert app.record is None and app.record_error == "record CRC mismatch"
    hold(app, hal, "POWER", 1100)
    assert views.last == ("message", "CARD ERROR", "SERVICE")


def test_factory_reset_erases_the_secret_first() -> None:
    hal = provisioned()
    app, views = boot(hal)
    del hal.writes[:]
    hal.keys.update({"CLR", "OK"})
    run_for(app, hal, 100)
    hold(app, hal, "POWER", 1100)
    assert views.last == ("message", "FACTORY RESET", "DONE")
    assert hal.flash == {} and app.record is None
    assert len(hal.writes) == 1 and KEY not in hal.writes[0][1]
    hal.keys.clear()
    run_for(app, hal, 3000)
    hold(app, hal, "POWER", 1100)
    assert views.last == ("message", "NOT", "PROVISIONED")


def test_factory_reset_clears_a_corrupt_record() -> None:
    hal = provisioned()
    hal.flash["record"] = b"garbage"
    app, views = boot(hal)
    hal.keys.update({"CLR", "OK"})
    hold(app, hal, "POWER", 1100)
    assert views.last == ("message", "FACTORY RESET", "DONE") and hal.flash == {}
    assert app.record_error is None


def test_time_suite_uses_the_hal_clock() -> None:
    suite = "OCRA-1:HOTP-SHA512-8:QN08-T1M"
    hal = provisioned(suite)
    app, views = boot(hal)
    hold(app, hal, "POWER", 1100)
    assert views.last == ("message", "NO TIME", "SERVICE")
    run_for(app, hal, 31000)
    hal.time = 1_700_000_000
    hold(app, hal, "POWER", 1100)
    type_keys(app, hal, "12345678")
    press(app, hal, "OK")
    assert views.last == ("response", reference_response(suite, KEY, "12345678",
                                                         timestamp=1_700_000_000 // 60))


def test_replace_record_and_reboot_request() -> None:
    hal = FakeHal(PICO)
    app, views = boot(hal)
    hold(app, hal, "POWER", 1100)
    assert views.last[0] == "message"
    app.replace_record(Record("DSC9", SUITE, KEY, ADMIN))
    run_for(app, hal, 20)
    assert views.last == ("off",)
    login(app, hal, "1234", "123456")
    assert views.last == ("response", reference_response(SUITE, KEY, "123456", pin="1234"))
    app.request_reboot()
    app.step()
    assert hal.resets == 1


def test_production_and_locked_records_lock_the_repl() -> None:
    hal = provisioned()
    app, _ = boot(hal)
    assert not app.production and not hal.locked
    app, _ = boot(hal, production=True)
    assert app.production and hal.locked
    hal = provisioned(locked=True)
    app, _ = boot(hal)
    assert app.production and hal.locked


class Stop(BaseException):
    pass


class Flaky(Views):
    """A display whose next `fails` renders raise, as a flaky I2C bus would."""

    def __init__(self, fails: int = 0) -> None:
        super().__init__()
        self.fails = fails

    def render(self, view: tuple[Any, ...]) -> None:
        if self.fails:
            self.fails -= 1
            raise RuntimeError("I2C bus error")
        super().render(view)


def test_production_run_survives_exceptions_and_development_run_does_not() -> None:
    hal = provisioned()
    idles: list[int] = []

    def idle(ms: int) -> None:
        idles.append(ms)
        hal.t += 10
        if len(idles) > 20:
            raise Stop()

    hal.idle = idle  # type: ignore[method-assign]
    views = Flaky(3)
    app = App(hal, production=True, display=views, service=NoService())
    with pytest.raises(Stop):
        app.run()
    assert ("message", "ERROR", "RESTART") in views.views
    idles.clear()
    app = App(hal, display=Flaky(3), service=NoService())
    with pytest.raises(RuntimeError):
        app.run()
    app = App(hal, display=Views(), service=NoService())

    def ctrl_c(ms: int) -> None:
        raise KeyboardInterrupt

    hal.idle = ctrl_c  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        app.run()


def test_a_card_locked_while_running_keeps_running_through_errors() -> None:
    # LOCK arrives over serial while a development build is in run(): from then on the loop
    # must behave like a production one (no way back to the REPL through an exception).
    hal = provisioned()
    views = Flaky()
    app = App(hal, display=views, service=NoService())
    steps: list[int] = []

    def idle(ms: int) -> None:
        steps.append(ms)
        hal.t += 10
        if len(steps) == 5:
            assert app.record is not None
            app.replace_record(app.record.copy(locked=True))
            views.fails = 3
        if len(steps) > 30:
            raise Stop()

    hal.idle = idle  # type: ignore[method-assign]
    with pytest.raises(Stop):
        app.run()
    assert app.production and hal.locked
    assert ("message", "ERROR", "RESTART") in views.views


def test_step_asks_for_sleep_only_when_off_and_idle() -> None:
    hal = provisioned()
    app, _ = boot(hal)
    assert app.step() == -1
    hal.keys.add("5")
    assert app.step() == 10  # a key is settling: keep scanning
    hal.keys.clear()
    run_for(app, hal, 50)
    assert app.step() == -1


def test_ticks_wrap_does_not_confuse_timeouts() -> None:
    class Wrapping(FakeHal):
        def ticks_ms(self) -> int:
            return (self.t + 0x3FFFFF00) & 0x3FFFFFFF

        def ticks_diff(self, a: int, b: int) -> int:
            return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000

    hal = Wrapping(PICO, flash=provisioned().flash)
    app, views = boot(hal)
    login(app, hal, "1234", "123456")
    assert views.last[0] == "response"
    run_for(app, hal, 59000)
    assert views.last[0] == "response"
    run_for(app, hal, 2000)
    assert views.last == ("off",)


class SerialHal(FakeHal):
    """Counts the serial polls (each serial_read) and the POWER pin reads (each keypad scan)."""

    def __init__(self) -> None:
        super().__init__(PICO)
        self.polls = 0

    def serial_read(self) -> bytes:
        self.polls += 1
        return super().serial_read()


def test_serial_is_polled_fast_while_a_host_talks_then_the_loop_idles_as_before() -> None:
    from dsc import protocol as P
    from dsc.app import SCAN_MS, SERIAL_LINGER_MS, SERIAL_POLL_MS

    hal = SerialHal()
    record.save(hal, Record("DSC00000042", SUITE, KEY, ADMIN))
    app = App(hal)
    assert app.step() == -1  # off and quiet: sleep until POWER or serial
    # Half a frame arrives: the rest is polled for every SERIAL_POLL_MS, not every scan period.
    line = P.encode(P.CMD_INFO, 5)
    hal.rx.extend(line[:6])
    assert app.step() == SERIAL_POLL_MS == 1
    hal.t += 1
    hal.rx.extend(line[6:])
    assert app.step() == SERIAL_POLL_MS
    assert P.Deframer().feed(bytes(hal.tx))[0][1:3] == (P.CMD_INFO | P.RSP_FLAG, 5)
    # The host's next request comes a few ms after the reply: it is read within 1 ms.
    reads_before = hal.pin_reads
    polls_before = hal.polls
    waited = 0
    while waited < SERIAL_LINGER_MS - 1:
        ms = app.step()
        assert ms == SERIAL_POLL_MS, waited
        hal.t += ms
        waited += ms
    # Meanwhile the keypad kept its own period (its debounce counts scans): one scan per
    # SCAN_MS, each an idle matrix scan (POWER + 3 columns), while the serial line was polled
    # every ms.
    polls = hal.polls - polls_before
    scans = (hal.pin_reads - reads_before) // 4
    assert polls == SERIAL_LINGER_MS - 1 and scans == (SERIAL_LINGER_MS - 1) // SCAN_MS, \
        (polls, scans)
    # Quiet for SERIAL_LINGER_MS: back to sleep, as an idle card always did.
    hal.t += 1
    assert app.step() == -1
    # Switched on and quiet: the 10 ms scan period, as before.
    hold(app, hal, "POWER", 1100)
    assert app.step() == SCAN_MS
