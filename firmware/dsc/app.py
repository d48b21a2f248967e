# The firmware application: wires the HAL, keypad, card, display and service handler.
# A board runs App.run(); the emulator calls App.step() itself so its virtual time is exact.
try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):  # type: ignore[no-redef]
        return x

from dsc import record as _record
from dsc.card import Card
from dsc.display import Display
from dsc.keypad import DOWN, LONG, UP, Keypad
from dsc.service import Service

SCAN_MS = const(10)        # keypad scan period while the card is on or a key is down
# While a host talks to the card the serial line is polled every SERIAL_POLL_MS, for
# SERIAL_LINGER_MS after the last byte in either direction: a frame half received, or the host's
# next request after a reply. At the scan period every exchange waited up to 10 ms for its poll.
# The keypad keeps its own period meanwhile (its debounce counts scans).
SERIAL_POLL_MS = const(1)
SERIAL_LINGER_MS = const(100)
_ERROR_PAUSE_MS = const(200)
# Physical factory reset: hold CLR and OK, then hold POWER until the card would turn on.
RESET_KEYS = ("CLR", "OK")
FACTORY_RESET = ("message", "FACTORY RESET", "DONE")
RESET_FAILED = ("message", "RESET FAILED", "RETRY")
FAULT = ("message", "ERROR", "RESTART")


class App:
    def __init__(self, hal, production=False, display=None, service=None):
        self.hal = hal
        self.production = bool(production)
        self.record = None
        self.record_error = None
        self._reboot = False
        self._led = None
        self._load()
        self.keypad = Keypad(hal)
        self.card = Card(self.record, self.record_error, self._save, self._clock)
        self.display = display if display is not None else Display(hal)
        self.service = service if service is not None else Service(hal, self)
        self._ticks = hal.ticks_ms()
        self.now = 0  # ms since boot, monotonic (hal ticks wrap; this count does not)
        self._scanned = -SCAN_MS  # when the keypad was last scanned
        self._serial_at = -SERIAL_LINGER_MS  # when serial bytes last came in (and were answered)
        if self.production:
            hal.lock_repl()

    # --- what the service handler uses ---
    def replace_record(self, rec):
        """The service saved (or erased: rec None) the record: adopt it and reset the UI."""
        self.record = rec
        self.record_error = None
        self.card.set_record(rec)
        self._check_lock()

    def request_reboot(self):
        self._reboot = True

    # --- main loop ---
    def step(self):
        hal = self.hal
        t = hal.ticks_ms()
        self.now += max(0, hal.ticks_diff(t, self._ticks))
        self._ticks = t
        now = self.now
        talking = now - self._serial_at < SERIAL_LINGER_MS
        if not talking or now - self._scanned >= SCAN_MS:
            self._scanned = now
            for ev in self.keypad.scan(now):
                self._on_key(ev, now)
        if self.service is not None and self.service.poll():
            self._serial_at = now
            talking = True
        self.card.tick(now)
        self._show()
        if self._reboot:
            self._reboot = False
            hal.reset()
        if talking:
            return SERIAL_POLL_MS
        if self.card.on or self.keypad.active():
            return SCAN_MS
        return -1

    def run(self):
        # Development: exceptions (and Ctrl-C) reach the REPL. Production: never returns,
        # never leaves a traceback. Checked every round: a LOCK over serial switches a
        # running development card to the production loop at once.
        while True:
            if not self.production:
                self.hal.idle(self.step())
                continue
            try:
                self.hal.idle(self.step())
            except Exception:
                self._fault()

    # --- internals ---
    def _load(self):
        try:
            self.record = _record.load(self.hal)
        except _record.RecordError as e:
            self.record_error = str(e)
        except OSError:
            self.record_error = "flash read failed"
        self._check_lock()

    def _check_lock(self):
        if self.record is not None and self.record.locked and not self.production:
            self.production = True
            self.hal.lock_repl()

    def _save(self, rec):
        _record.save(self.hal, rec)
        self.record = rec

    def _clock(self):
        unix_time = getattr(self.hal, "unix_time", None)
        return unix_time() if unix_time is not None else None

    def _on_key(self, ev, now):
        kind, name, _t, held = ev
        card = self.card
        if name == "POWER":
            if kind == LONG and not card.on:
                if self._reset_keys_held():
                    self._factory_reset(now)
                else:
                    card.power_on(now)
            elif kind == UP and held < self.keypad.long_ms and card.on:
                card.power_off()
        elif kind == DOWN:
            card.key(name, now)

    def _reset_keys_held(self):
        for name in RESET_KEYS:
            if name not in self.keypad.names or not self.keypad.is_down(name):
                return False
        return True

    def _factory_reset(self, now):
        # record.erase overwrites the secret and admin key before it removes anything.
        try:
            _record.erase(self.hal)
        except OSError:
            self.card.show(RESET_FAILED, now, SCAN_MS * 300)
            return
        self.replace_record(None)
        self.card.show(FACTORY_RESET, now, SCAN_MS * 300)

    def _show(self):
        if self.display is not None:
            self.display.render(self.card.view())
        on = self.card.on
        if on != self._led:
            self._led = on
            self.hal.led(on)

    def _fault(self):
        # Production only: the state may be half-updated; start the UI over with an error view.
        try:
            self.card.set_record(self.record, self.record_error)
            self.card.show(FAULT, self.now, SCAN_MS * 300)
            self._show()
            self.hal.idle(_ERROR_PAUSE_MS)
        except Exception:
            pass

