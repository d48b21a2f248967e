# The card's behaviour as a state machine with no hardware in it. App feeds it key events and
# the time (a monotonic millisecond count); view() says what the display shows (see the table
# in docs/architecture.md). Behaviour and decisions: docs/firmware.md.
try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):  # type: ignore[no-redef]
        return x

OFF = const(0)
PIN = const(1)
CHALLENGE = const(2)
RESPONSE = const(3)
MESSAGE = const(4)

MESSAGE_MS = const(1500)  # how long a hint like TOO SHORT stays before input resumes
DEFAULT_IDLE_MS = const(30000)
_PIN_MAX = const(12)
_CHALLENGE_MAX = const(64)

VIEW_OFF = ("off",)
TOO_SHORT = ("message", "TOO SHORT", "")
NOT_PROVISIONED = ("message", "NOT", "PROVISIONED")
RECORD_ERROR = ("message", "CARD ERROR", "SERVICE")
NO_TIME = ("message", "NO TIME", "SERVICE")
NO_SESSION = ("message", "SUITE NEEDS", "SESSION")
SAVE_ERROR = ("message", "SAVE ERROR", "TRY AGAIN")
COUNTER_END = ("message", "COUNTER", "EXHAUSTED")
COMPUTE_ERROR = ("message", "ERROR", "SERVICE")


def suite_problem(suite):
    """Why a keypad card cannot answer with this parsed suite, or None when it can.

    Session information (S) has no source on a keypad card, and a challenge longer than the
    card's buffer cannot be typed."""
    if suite.session_len:
        return NO_SESSION
    if suite.q_len > _CHALLENGE_MAX:
        return COMPUTE_ERROR
    return None


class Card:
    """off -> POWER held -> PIN> -> OK -> CHALLNG> -> OK -> response -> off.

    save(rec) persists a record (counter suites) and raises on failure; clock() returns the
    Unix time in seconds or None when the card does not know it (time suites)."""

    def __init__(self, record=None, error=None, save=None, clock=None):
        self._save = save or _no_save
        self._clock = clock or _no_clock
        self._pin = bytearray(_PIN_MAX)
        self._chal = bytearray(_CHALLENGE_MAX)
        self.set_record(record, error)

    def set_record(self, record, error=None):
        """A new record (or None: blank; error: the stored record failed its check): card off."""
        self.record = record
        self._suite = None
        self._problem = RECORD_ERROR if error else None
        if record is None and not error:
            self._problem = NOT_PROVISIONED
        elif record is not None and not error:
            try:
                from dsc import ocra
                self._suite = ocra.parse_suite(record.suite)
                self._problem = suite_problem(self._suite)
            except ValueError:
                self._problem = RECORD_ERROR
        self._clear()
        self._set(OFF, VIEW_OFF, 0, -1)

    # --- what App asks ---
    @property
    def on(self):
        return self.state != OFF

    def view(self):
        return self._view

    def tick(self, now):
        """Apply timeouts; return ms until the next deadline, or -1 when off."""
        if self.state == OFF:
            return -1
        left = self._deadline - now
        if left > 0:
            return left
        if self.state == MESSAGE and self._back != OFF:
            self._resume(now)
            return self.tick(now)
        self.power_off()
        return -1

    # --- events ---
    def power_on(self, now):
        if self.state != OFF:
            return  # a long press while on changes nothing
        rec = self.record
        suite = self._suite
        idle = rec.idle_ms if rec is not None else DEFAULT_IDLE_MS
        if self._problem is not None or suite is None:
            self._message(self._problem or RECORD_ERROR, now, OFF, idle)
        elif suite.time_step and self._clock() is None:
            self._message(NO_TIME, now, OFF, idle)
        elif suite.pin_hash:
            self._enter(PIN, now)
        else:
            self._enter(CHALLENGE, now)  # the suite takes no PIN: nothing to type

    def show(self, view, now, ms):
        """Show a message (e.g. FACTORY RESET / DONE) for ms, then turn off."""
        self._clear()
        self._message(view, now, OFF, ms)

    def power_off(self):
        self._clear()
        self._set(OFF, VIEW_OFF, 0, -1)

    def key(self, name, now):
        """A key went down: "0".."9", "OK", "CLR"; others (A..D) are ignored."""
        if self.state == MESSAGE:
            if self._back == OFF:
                return  # a final message: only POWER or the timeout ends it
            self._resume(now)
        if self.state == PIN:
            self._edit(name, now, self._pin, self._pin_len(), CHALLENGE)
        elif self.state == CHALLENGE:
            self._edit(name, now, self._chal, self._q_len(), RESPONSE)

    # --- internals ---
    def _pin_len(self):
        return self.record.pin_len if self.record is not None else 0

    def _q_len(self):
        return self._suite.q_len if self._suite is not None else 0

    def _edit(self, name, now, buf, need, following):
        n = self._n
        if len(name) == 1 and "0" <= name <= "9":
            if n < need:
                buf[n] = ord(name)
                self._n = n + 1
        elif name == "CLR":
            if n:
                self._n = n - 1
                buf[n - 1] = 0
        elif name == "OK":
            if n < need:
                self._message(TOO_SHORT, now, self.state, MESSAGE_MS)
                return
            if following == CHALLENGE:
                self._pin_n = n
                self._enter(CHALLENGE, now)
            else:
                self._answer(now)
            return
        else:
            return
        self._enter(self.state, now, self._n)

    def _enter(self, state, now, n=0):
        self._n = n
        if state == PIN:
            view = ("pin", n, self._pin_len())
        else:
            view = ("challenge", bytes(self._chal[:n]).decode(), self._q_len())
        rec = self.record
        self._set(state, view, now, rec.idle_ms if rec is not None else DEFAULT_IDLE_MS)

    def _message(self, view, now, back, ms):
        self._back = back
        self._back_n = self._n
        self._set(MESSAGE, view, now, ms)

    def _resume(self, now):
        self._enter(self._back, now, self._back_n)

    def _set(self, state, view, now, ms):
        self.state = state
        self._view = view
        self._deadline = now + ms

    def _clear(self):
        # Overwrite the typed PIN and challenge: the card keeps no PIN after it is used.
        for buf in (self._pin, self._chal):
            for i in range(len(buf)):
                buf[i] = 0
        self._n = 0
        self._pin_n = 0
        self._back = OFF
        self._back_n = 0

    def _answer(self, now):
        rec = self.record
        suite = self._suite
        if rec is None or suite is None:
            return
        try:
            result = self._compute(rec, suite)
        finally:
            self._clear()
        if isinstance(result, tuple):
            self._message(result, now, OFF, rec.idle_ms)
            return
        if suite.counter:
            # The next response must use the next counter even if power fails while this one
            # is on the display, so the counter is saved before the response is shown.
            new = rec.copy(counter=rec.counter + 1)
            try:
                self._save(new)
            except Exception:
                self._message(SAVE_ERROR, now, OFF, rec.idle_ms)
                return
            self.record = new
        self._set(RESPONSE, ("response", result), now, rec.response_ms)

    def _compute(self, rec, suite):
        """The response digits, or a message view when the card cannot answer."""
        from dsc import ocra
        counter = None
        if suite.counter:
            counter = rec.counter
            if counter >= 0xFFFFFFFFFFFFFFFF:
                return COUNTER_END
        timestamp = None
        if suite.time_step:
            now_s = self._clock()
            if now_s is None:
                return NO_TIME
            timestamp = now_s // suite.time_step
        pin = bytes(self._pin[:self._pin_n]).decode() if suite.pin_hash else None
        challenge = bytes(self._chal[:self._n]).decode()
        try:
            return ocra.response(rec.suite, rec.secret, challenge, counter=counter, pin=pin,
                                 timestamp=timestamp)
        except ValueError:
            return COMPUTE_ERROR
        finally:
            pin = None


def _no_save(rec):
    raise OSError("no storage")


def _no_clock():
    return None
