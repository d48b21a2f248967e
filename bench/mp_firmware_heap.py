# Heap of the firmware on a MicroPython VM, in phases so that garbage can be collected between
# them (the WebAssembly build only frees garbage between two runPython calls; see
# bench/wasm_heap.mjs). Run directly, it does every phase itself (unix port).
#   base()     fake HAL ready, nothing of the firmware imported: the baseline
#   imports()  every firmware module imported: their code (RAM unless frozen)
#   boot()     App built on the fake HAL (real display and service), 200 ms of steps
#   login()    one whole login to the response, then auto-off
# measure(name) prints "HEAP name bytes-above-baseline" after gc.collect().
import gc

from fakehal import PICO, FakeHal, hold, press, run_for, type_keys

hal = FakeHal(PICO)
state = {}


def measure(name):
    gc.collect()
    if name == "base":
        state["base"] = gc.mem_alloc()
    else:
        print("HEAP %s %d" % (name, gc.mem_alloc() - state["base"]))  # noqa: UP031


def imports():
    import dsc.app
    import dsc.display
    import dsc.ocra
    import dsc.record
    import dsc.service
    import dsc.sha  # the pure-Python hashes the card falls back on (wasm: SHA-1 for PIN hashes)
    state["modules"] = (dsc.app, dsc.display, dsc.ocra, dsc.record, dsc.service, dsc.sha)


def boot():
    from dsc import record
    from dsc.app import App
    record.save(hal, record.Record("DSC00000042", "OCRA-1:HOTP-SHA256-8:QN06-PSHA1",
                                   b"12345678901234567890123456789012", bytes(32)))
    state["app"] = App(hal)
    run_for(state["app"], hal, 200)
    _forget_logs()


def login():
    app = state["app"]
    hold(app, hal, "POWER", 1100)
    type_keys(app, hal, "1234")
    press(app, hal, "OK")
    type_keys(app, hal, "123456")
    press(app, hal, "OK")
    state["view"] = app.card.view()
    run_for(app, hal, 61000)
    _forget_logs()
    print("VIEW %s" % (state["view"],))  # noqa: UP031


def _forget_logs():
    # The fake HAL's logs of I2C writes and LED changes are test gear, not firmware heap.
    del hal.i2c[:]
    del hal.leds[:]
    del hal.writes[:]


PHASES = (("base", None), ("imports", imports), ("boot", boot), ("login", login))

if __name__ == "__main__":
    for name, fn in PHASES:
        if fn is not None:
            fn()
        measure(name)
