"""The card's behaviour end to end: keys pressed on the virtual keypad, text read back from
the SSD1306 model's pixels, on both runtimes (the `card` fixture's tests run on each)."""

from __future__ import annotations

import pytest
from dsc import ocra
from emuhelpers import COUNTER_SUITE, PIN_SUITE, RUNTIMES, login, ocra_qn_psha1, vectors

from emulator import DEFAULT_SUITE, Emulator
from host_tools.client import CardClient


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_login_gives_the_rfc_response(runtime: str) -> None:
    vs = vectors(PIN_SUITE)
    picked = vs if runtime == "cpython" else vs[:2]
    with Emulator(runtime=runtime, key=bytes.fromhex(vs[0]["key"]), suite=PIN_SUITE) as card:
        for v in picked:
            assert login(card, v["pin"], v["challenge"]) == v["expected"]
            card.hold("POWER", 200)  # a short press turns it off
            assert card.screen_text() == ""


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_counter_suite_walks_the_rfc_counters(runtime: str) -> None:
    vs = sorted(vectors(COUNTER_SUITE), key=lambda v: v["counter"])
    picked = vs if runtime == "cpython" else vs[:2]
    with Emulator(runtime=runtime, key=bytes.fromhex(vs[0]["key"]), suite=COUNTER_SUITE) as card:
        for v in picked:  # the card starts at counter 0 and saves C+1 before each response
            assert login(card, v["pin"], v["challenge"]) == v["expected"]
            card.advance(61000)
            assert card.screen_text() == ""
        card.power_cut()  # the counter survives losing power
        nxt = picked[-1]["counter"] + 1
        key = bytes.fromhex(vs[0]["key"])
        expected = ocra_qn_psha1(key, 8, "12345678", "1234", counter=nxt)
        assert login(card, "1234", "12345678") == expected


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_blank_card_asks_for_provisioning(runtime: str) -> None:
    with Emulator(runtime=runtime) as card:
        assert card.screen_text() == ""
        card.hold("POWER", 1500)
        assert card.screen_text() == "NOT\nPROVISIONED"
        assert not CardClient(card.transport()).info().provisioned


def test_default_suite_response_matches_an_independent_ocra() -> None:
    key = bytes(range(32))
    with Emulator(key=key) as card:
        shown = card.screen_text()
        assert shown == ""
        card.hold("POWER", 1500)
        card.type("4321")
        card.press("OK")
        assert card.screen_text() == "CHALLNG>"
        card.type("987654")
        card.press("OK")
        shown = card.screen_text()
        expected = ocra_qn_psha1(key, 8, "987654", "4321")
        assert shown == f"{expected[:4]} {expected[4:]}"
        assert expected == ocra.response(DEFAULT_SUITE, key, "987654", pin="4321")


def test_suite_without_pin_goes_straight_to_the_challenge() -> None:
    v = vectors("OCRA-1:HOTP-SHA1-6:QN08")[3]
    with Emulator(key=bytes.fromhex(v["key"]), suite=v["suite"]) as card:
        assert login(card, None, v["challenge"]) == v["expected"]


def test_time_suite_uses_the_board_clock() -> None:
    v = vectors("OCRA-1:HOTP-SHA512-8:QN08-T1M")[0]
    minute = int(v["timestamp"], 16) * 60
    with Emulator(key=bytes.fromhex(v["key"]), suite=v["suite"], unix_time=minute) as card:
        assert login(card, None, v["challenge"]) == v["expected"]


@pytest.fixture(params=RUNTIMES)
def card(request: pytest.FixtureRequest) -> Emulator:
    with Emulator(key=bytes(32), runtime=request.param) as c:
        yield c


def test_pin_is_masked_and_clr_deletes_one_digit(card: Emulator) -> None:
    card.hold("POWER", 1500)
    card.type("12")
    assert card.screen_text() == "PIN>\n**"
    card.press("CLR")
    assert card.screen_text() == "PIN>\n*"
    card.type("234")
    assert card.screen_text() == "PIN>\n****"
    card.type("9")  # a fifth digit does not fit a 4-digit PIN
    assert card.screen_text() == "PIN>\n****"
    card.press("OK")
    card.type("12")
    assert card.screen_text() == "CHALLNG>\n12"
    card.press("CLR")
    assert card.screen_text() == "CHALLNG>\n1"


def test_ok_with_too_few_digits_says_so_and_stays(card: Emulator) -> None:
    card.hold("POWER", 1500)
    card.type("12")
    card.press("OK")
    assert card.screen_text() == "TOO SHORT"
    card.advance(2000)
    assert card.screen_text() == "PIN>\n**"
    card.type("34")
    card.press("OK")
    card.type("123")
    card.press("OK")
    assert card.screen_text() == "TOO SHORT"
    card.advance(2000)
    assert card.screen_text() == "CHALLNG>\n123"


def test_idle_card_turns_itself_off(card: Emulator) -> None:
    card.hold("POWER", 1500)
    card.advance(29000)
    assert card.screen_text() == "PIN>"
    card.advance(1500)
    assert card.screen_text() == "" and not card.is_on


def test_response_stays_60_s_then_the_card_turns_off(card: Emulator) -> None:
    login(card, "1234", "123456")
    card.advance(58000)
    assert card.screen_text().replace(" ", "").isdigit()
    card.advance(3000)
    assert card.screen_text() == ""


def test_power_short_press(card: Emulator) -> None:
    card.hold("POWER", 300)  # too short to turn the card on
    assert card.screen_text() == ""
    card.hold("POWER", 1500)
    card.type("12")
    card.hold("POWER", 300)  # a short press turns it off
    assert card.screen_text() == ""
    card.hold("POWER", 1500)
    assert card.screen_text() == "PIN>"  # typed digits are gone


def test_asleep_the_board_ignores_keys_and_costs_no_steps(card: Emulator) -> None:
    card.advance(200)  # provisioning was serial traffic: it polls the line for 100 ms more
    assert card.scheduler.next_run is None  # asleep
    steps = card.scheduler.steps
    card.type("1234")  # keys other than POWER do not wake the board
    card.advance(3_600_000)
    assert card.scheduler.steps == steps
    assert card.screen_text() == ""


def test_contact_bounce_is_debounced() -> None:
    with Emulator(key=bytes(32), bounce_ms=8) as card:
        card.hold("POWER", 1500)
        card.type("12")
        assert card.screen_text() == "PIN>\n**"


def test_serial_traffic_wakes_a_sleeping_board(card: Emulator) -> None:
    card.advance(10_000)
    assert card.scheduler.next_run is None  # asleep
    info = CardClient(card.transport()).info()
    assert info.provisioned and info.serial_number == card.serial_number


def test_reboot_and_power_cut_keep_the_flash(card: Emulator) -> None:
    card.hold("POWER", 1500)
    card.type("12")
    card.reboot()
    assert card.screen_text() == ""  # the firmware re-initialised the display
    card.hold("POWER", 1500)
    assert card.screen_text() == "PIN>"
    card.power_cut()
    assert card.screen_text() == ""
    assert login(card, "1234", "123456") == ocra_qn_psha1(bytes(32), 8, "123456", "1234")


def test_state_dir_keeps_the_card_between_runs(tmp_path) -> None:
    key = bytes(range(32))
    with Emulator(key=key, suite=COUNTER_SUITE, state_dir=tmp_path) as card:
        first = login(card, "1234", "12345678")
    assert (tmp_path / "flash").is_dir()
    with Emulator(state_dir=tmp_path) as card:  # no key: the flash already holds the card
        second = login(card, "1234", "12345678")
    assert first == ocra_qn_psha1(key, 8, "12345678", "1234", counter=0)
    assert second == ocra_qn_psha1(key, 8, "12345678", "1234", counter=1)


def test_state_dir_keeps_the_record_owner_only(tmp_path) -> None:
    import stat

    state = tmp_path / "state"
    with Emulator(key=bytes(range(32)), state_dir=state) as card:
        login(card, "1234", "123456")
    files = [p for p in (state / "flash").rglob("*") if p.is_file()]
    assert any(p.name == "record" for p in files)
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
    assert stat.S_IMODE((state / "flash").stat().st_mode) == 0o700
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_ticks_wrap_during_a_login() -> None:
    from emulator.clock import TICKS_PERIOD

    with Emulator(key=bytes(32)) as card:
        card.board.clock.offset = TICKS_PERIOD - card.now() - 1000  # wraps 1 s from now
        card.power_cut()
        assert login(card, "1234", "123456") == ocra_qn_psha1(bytes(32), 8, "123456", "1234")
        assert card.board.clock.ticks() < 100_000  # the wrap happened
        card.advance(61000)
        assert card.screen_text() == ""


def test_unknown_key_and_runtime_are_clear_errors(card: Emulator) -> None:
    from emulator import EmulatorError

    with pytest.raises(EmulatorError, match="no key 'X'"):
        card.press("X")
    with pytest.raises(EmulatorError, match="no key 'A'"):
        card.type("12A")
    assert card.screen_text() == ""  # nothing was typed
    with pytest.raises(EmulatorError, match="unknown runtime"):
        Emulator(runtime="jython")


def test_production_build_locks_the_repl() -> None:
    with Emulator(production=True) as card:
        assert card.board.repl_locked
    with Emulator() as card:
        assert not card.board.repl_locked


def test_micropython_that_dies_is_a_clear_error() -> None:
    from emulator import FirmwareError

    with Emulator(runtime="micropython", key=bytes(32)) as card:
        card.hold("POWER", 1500)
        card.runtime.proc.kill()
        with pytest.raises(FirmwareError, match="MicroPython exited"):
            card.advance(100)
        card.power_cut()  # power back: a new VM, and the card works again
        card.hold("POWER", 1500)
        assert card.screen_text() == "PIN>"


@pytest.mark.parametrize("board", ["pico", "pyboard", "pico_buttons"])
def test_micropython_bridge_sends_a_whole_keypad_scan_and_display_flush_at_once(
        board: str) -> None:
    # Each firmware step is one round trip over the bridge; a keypad scan (Hal.read_group) is
    # one more (two when the idle scan sees a key and a full scan follows), a display flush one.
    # Pin by pin a login took ~6,200 round trips (~11,600 messages) for its ~440 steps.
    key = bytes(range(32))
    with Emulator(board=board, runtime="micropython", key=key) as card:
        card.hold("POWER", 200)
        trips, calls, steps = card.runtime.round_trips, card.runtime.calls, card.scheduler.steps
        assert login(card, "1234", "123456") == ocra_qn_psha1(key, 8, "123456", "1234")
        steps = card.scheduler.steps - steps
        trips = card.runtime.round_trips - trips
        calls = card.runtime.calls - calls
        assert 300 <= steps <= 600, steps
        assert trips <= 2.5 * steps and calls <= 1.5 * steps, (trips, calls, steps)
