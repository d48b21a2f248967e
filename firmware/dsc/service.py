# The service-protocol command handler on the card (docs/protocol.md). App calls poll() from its
# loop; poll() reads the serial line, answers every complete frame and returns.
# Rules: every bad input gets an error response (or silence, for bytes outside a frame) and
# changes nothing; no response ever carries the secret or the admin key; admin commands on a
# provisioned card only inside an AUTH session, sealed (dsc.session).
import dsc
from dsc import ocra, record, session
from dsc import protocol as P

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):  # type: ignore[no-redef]
        return x

SESSION_IDLE_MS = P.SESSION_IDLE_MS  # a session closes after this long without a sealed command
_ADMIN = (P.CMD_PROVISION, P.CMD_SET_CONFIG, P.CMD_TEST, P.CMD_WIPE, P.CMD_LOCK,
          P.CMD_SET_TIME)
_PROVISION_TAGS = (P.T_SERIAL, P.T_SUITE, P.T_SECRET, P.T_ADMIN_KEY, P.T_PIN_LEN, P.T_IDLE_MS,
                   P.T_RESPONSE_MS, P.T_COUNTER)
_CONFIG_TAGS = (P.T_PIN_LEN, P.T_IDLE_MS, P.T_RESPONSE_MS)
_TEST_TAGS = (P.T_CHALLENGE, P.T_PIN, P.T_TIMESTAMP, P.T_SESSION_INFO)
# SET_TIME takes 2024-01-01 .. 2100-01-01: outside that a clock is wrong, not set (plain ints:
# the upper bound is no small int on 32-bit ports).
TIME_MIN = 1704067200
TIME_MAX = 4102444800


class _Refuse(Exception):
    # Internal: stop handling a command and answer with this error code.
    # super().__init__, not Exception.__init__(self, ...): MicroPython's built-in exception
    # types have no __init__ attribute, so that call raised AttributeError and turned every
    # refusal into ERR_INTERNAL (issue 9, item 2).
    def __init__(self, code, retry_ms=None):
        super().__init__(code)
        self.code = code
        self.retry_ms = retry_ms


def _text(raw, lo, hi):
    # Printable ASCII of lo..hi bytes, else a bad payload.
    if not lo <= len(raw) <= hi:
        raise _Refuse(P.ERR_BAD_PAYLOAD)
    if not P.printable(raw):
        raise _Refuse(P.ERR_BAD_PAYLOAD)
    return raw.decode()


def _num(fields, tag, size, default):
    if tag not in fields:
        return default
    try:
        return P.to_uint(fields[tag], size)
    except ValueError:
        raise _Refuse(P.ERR_BAD_PAYLOAD)


class Service:
    def __init__(self, hal, app):
        self.hal = hal
        self.app = app
        self._deframer = P.Deframer()
        self._throttle = session.Throttle(hal)
        self._session = None
        self._session_rec = None  # the record the session was opened for
        self._session_ms = 0
        self._pending = None  # (Nh, Nc) between AUTH_BEGIN and AUTH_FINISH

    # --- the loop ---
    def poll(self):
        try:
            data = self.hal.serial_read()
        except OSError:
            return False
        if not data:
            return False
        for err, ftype, rid, payload in self._deframer.feed(data):
            if err:
                self._send(P.encode(P.RSP_ERROR, 0, P.error_payload(err)))
            else:
                self._send(self._answer(ftype, rid, payload))
        return True

    def _send(self, line):
        try:
            self.hal.serial_write(line)
        except OSError:
            pass  # the host went away; it will ask again

    def _answer(self, ftype, rid, payload):
        try:
            return P.encode(ftype | P.RSP_FLAG, rid, self._dispatch(ftype, rid, payload))
        except _Refuse as e:
            return P.encode(P.RSP_ERROR, rid, P.error_payload(e.code, e.retry_ms))
        except Exception:  # a bug must not kill the card's loop; PowerCut is a BaseException
            self._close()
            return P.encode(P.RSP_ERROR, rid, P.error_payload(P.ERR_INTERNAL))

    def _dispatch(self, ftype, rid, payload):
        if ftype == P.CMD_INFO:
            self._fields(payload, ())
            return self._info()
        if ftype == P.CMD_AUTH_BEGIN:
            return self._auth_begin(self._fields(payload, (P.T_NONCE,)))
        if ftype == P.CMD_AUTH_FINISH:
            return self._auth_finish(self._fields(payload, (P.T_PROOF,)))
        if ftype == P.CMD_REBOOT:
            self._fields(payload, ())
            self._close()
            self.app.request_reboot()
            return b""
        if ftype in _ADMIN:
            return self._admin(ftype, rid, payload)
        raise _Refuse(P.ERR_UNKNOWN_COMMAND)

    def _fields(self, payload, allowed):
        try:
            return P.tlv_decode(payload, allowed)
        except ValueError:
            raise _Refuse(P.ERR_BAD_PAYLOAD)

    # --- INFO ---
    def _info(self):
        app = self.app
        rec = app.record
        items = [(P.T_PROTOCOL, P.VERSION), (P.T_FIRMWARE, dsc.VERSION),
                 (P.T_BOARD, str(self.hal.board.get("name", "?"))),
                 (P.T_PROVISIONED, 1 if rec is not None else 0),
                 (P.T_LOCKED, 1 if app.production else 0)]
        if rec is not None:
            items.append((P.T_SERIAL, rec.serial))
            items.append((P.T_SUITE, rec.suite))
        if app.record_error:
            items.append((P.T_RECORD_ERROR, str(app.record_error)[:64]))
        free = self.hal.fs_free()
        items.append((P.T_FREE_FLASH, P.uint(free & 0xFFFFFFFF, 4)))
        mv = self.hal.battery_mv()
        if mv is not None:
            items.append((P.T_BATTERY_MV, P.uint(max(0, min(int(mv), 0xFFFF)), 2)))
        return P.tlv_encode(items)

    # --- AUTH ---
    def _auth_begin(self, fields):
        rec = self.app.record
        if rec is None:
            raise _Refuse(P.ERR_NOT_PROVISIONED)
        nh = fields.get(P.T_NONCE)
        if nh is None or len(nh) != session.NONCE_LEN:
            raise _Refuse(P.ERR_BAD_PAYLOAD)
        wait = self._throttle.wait_ms()
        if wait > 0:
            raise _Refuse(P.ERR_AUTH_DELAY, wait)
        self._close()  # a new AUTH ends the old session
        nc = session.card_nonce(self.hal.random_bytes(session.NONCE_RANDOM),
                                self._throttle.attempts)
        self._pending = (nh, nc)
        proof = session.card_proof(rec.admin_key, nh, nc, rec.serial)
        return P.tlv_encode([(P.T_NONCE, nc), (P.T_PROOF, proof)])

    def _auth_finish(self, fields):
        pending = self._pending
        self._pending = None  # one proof per card nonce: a replayed transcript cannot match
        proof = fields.get(P.T_PROOF)
        if proof is None or len(proof) != session.PROOF_LEN:
            raise _Refuse(P.ERR_BAD_PAYLOAD)
        if pending is None:
            raise _Refuse(P.ERR_BAD_STATE)
        rec = self.app.record
        if rec is None:
            raise _Refuse(P.ERR_NOT_PROVISIONED)
        try:
            self._throttle.charge()
        except OSError:
            raise _Refuse(P.ERR_STORAGE)
        nh, nc = pending
        if not session.compare_digest(session.host_proof(rec.admin_key, nh, nc, rec.serial),
                                      proof):
            raise _Refuse(P.ERR_AUTH_FAILED)
        self._throttle.clear()
        self._session = session.Session(rec.admin_key, nh, nc, rec.serial, True, P.VERSION)
        self._session_rec = rec
        self._session_ms = self.hal.ticks_ms()
        return b""

    def _close(self):
        self._session = None
        self._session_rec = None
        self._pending = None

    def _live_session(self):
        s = self._session
        if s is None:
            return None
        idle = self.hal.ticks_diff(self.hal.ticks_ms(), self._session_ms)
        # idle < 0: more than half a ticks period (6 days) went by, folded by ticks_diff.
        if self._session_rec is not self.app.record or not 0 <= idle <= SESSION_IDLE_MS:
            self._close()
            return None
        return s

    # --- admin commands ---
    def _admin(self, ftype, rid, payload):
        s = self._live_session()
        if s is None:
            return self._admin_plain(ftype, payload)
        try:
            seq, plain = s.open(ftype, rid, payload)
        except session.SessionError:
            self._close()
            raise _Refuse(P.ERR_SESSION)
        self._session_ms = self.hal.ticks_ms()
        result = self._run_admin(ftype, plain)
        if ftype in (P.CMD_PROVISION, P.CMD_WIPE):
            self._close()  # the admin key changed or is gone: AUTH again
        return s.seal(ftype | P.RSP_FLAG, rid, seq, result)

    def _admin_plain(self, ftype, payload):
        app = self.app
        if ftype == P.CMD_PROVISION and app.record is None:
            if app.record_error:
                raise _Refuse(P.ERR_RECORD)  # a damaged record: WIPE it first
            return self._run_admin(ftype, payload)
        if ftype == P.CMD_WIPE and app.record is None and app.record_error:
            # A record that fails its check cannot prove an admin key; erasing it gives nothing
            # away (the physical factory reset does the same).
            return self._run_admin(ftype, payload)
        if app.record is None:
            raise _Refuse(P.ERR_NOT_PROVISIONED)
        raise _Refuse(P.ERR_AUTH_REQUIRED)

    def _run_admin(self, ftype, payload):
        if ftype == P.CMD_PROVISION:
            return self._provision(self._fields(payload, _PROVISION_TAGS))
        if ftype == P.CMD_SET_CONFIG:
            return self._set_config(self._fields(payload, _CONFIG_TAGS))
        if ftype == P.CMD_TEST:
            return self._test(self._fields(payload, _TEST_TAGS))
        if ftype == P.CMD_SET_TIME:
            return self._set_time(self._fields(payload, (P.T_TIME,)))
        self._fields(payload, ())
        if ftype == P.CMD_WIPE:
            return self._wipe()
        return self._lock()

    def _store(self, rec):
        try:
            rec.check()
        except record.RecordError:
            raise _Refuse(P.ERR_BAD_PAYLOAD)
        try:
            record.save(self.hal, rec)
        except (OSError, record.RecordError):
            raise _Refuse(P.ERR_STORAGE)
        self.app.replace_record(rec)
        if self._session is not None:
            self._session_rec = rec  # our own change: the session stays open

    def _provision(self, f):
        for tag in (P.T_SERIAL, P.T_SUITE, P.T_SECRET, P.T_ADMIN_KEY):
            if tag not in f:
                raise _Refuse(P.ERR_BAD_PAYLOAD)
        suite = _text(f[P.T_SUITE], 1, 64)
        try:
            ocra.parse_suite(suite)
        except ValueError:
            raise _Refuse(P.ERR_BAD_SUITE)
        old = self.app.record
        rec = record.Record(
            _text(f[P.T_SERIAL], 1, 32), suite, f[P.T_SECRET], f[P.T_ADMIN_KEY],
            _num(f, P.T_PIN_LEN, 1, record.DEFAULT_PIN_LEN),
            _num(f, P.T_IDLE_MS, 4, record.DEFAULT_IDLE_MS),
            _num(f, P.T_RESPONSE_MS, 4, record.DEFAULT_RESPONSE_MS), _num(f, P.T_COUNTER, 8, 0),
            old is not None and old.locked)  # the production lock survives re-provisioning
        self._store(rec)
        if old is None:
            self._throttle.clear()  # failures against an erased admin key no longer matter
        return b""

    def _set_config(self, f):
        rec = self._record()
        if not f:
            raise _Refuse(P.ERR_BAD_PAYLOAD)
        self._store(rec.copy(pin_len=_num(f, P.T_PIN_LEN, 1, rec.pin_len),
                             idle_ms=_num(f, P.T_IDLE_MS, 4, rec.idle_ms),
                             response_ms=_num(f, P.T_RESPONSE_MS, 4, rec.response_ms)))
        return b""

    def _test(self, f):
        # The counter is read, not advanced: TEST changes nothing on the card.
        rec = self._record()
        if P.T_CHALLENGE not in f:
            raise _Refuse(P.ERR_BAD_PAYLOAD)
        challenge = _text(f[P.T_CHALLENGE], 1, 128)
        pin = _text(f[P.T_PIN], 1, 64) if P.T_PIN in f else None
        ts = _num(f, P.T_TIMESTAMP, 8, None)
        info = f.get(P.T_SESSION_INFO)
        try:
            digits = ocra_response(rec, challenge, pin, ts, info)
        except ValueError:
            raise _Refuse(P.ERR_BAD_PAYLOAD)
        return P.tlv_encode([(P.T_RESPONSE, digits)])

    def _set_time(self, f):
        # Answers the clock as it was (absent when unknown), so the host can tell the drift.
        self._record()
        t = _num(f, P.T_TIME, 8, None)
        if t is None or not TIME_MIN <= t < TIME_MAX:
            raise _Refuse(P.ERR_BAD_PAYLOAD)
        before = self.hal.unix_time()
        try:
            self.hal.set_unix_time(t)
        except OSError:
            raise _Refuse(P.ERR_STORAGE)  # the RTC did not take it
        if before is None:
            return b""
        return P.tlv_encode([(P.T_TIME, P.uint(max(0, int(before)), 8))])

    def _wipe(self):
        try:
            record.erase(self.hal)
        except OSError:
            raise _Refuse(P.ERR_STORAGE)
        self.app.replace_record(None)
        return b""

    def _lock(self):
        rec = self._record()
        if not rec.locked:
            self._store(rec.copy(locked=True))  # App then locks the REPL (app.production)
        return b""

    def _record(self):
        rec = self.app.record
        if rec is None:
            raise _Refuse(P.ERR_NOT_PROVISIONED)
        return rec


def ocra_response(rec, challenge, pin, timestamp, session_info):
    """The card's OCRA response for TEST with the record's key and current counter."""
    suite = ocra.parse_suite(rec.suite)
    return ocra.response(suite, rec.secret, challenge,
                         counter=rec.counter if suite.counter else None, pin=pin,
                         session=session_info, timestamp=timestamp)
