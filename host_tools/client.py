"""The service-protocol client: one card behind one `Transport` (docs/protocol.md).

Frames, TLV fields and the session crypto are the firmware's own modules (`dsc.protocol`,
`dsc.session`); this module adds request ids, timeouts, retries of idempotent commands and
typed exceptions. It never logs a payload.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from dsc import protocol as P
from dsc import record
from dsc import session as S

from host_tools.errors import DscError
from host_tools.transport import CardNotFound, CardTimeout, Transport, TransportError

__all__ = [
    "AuthenticationFailed", "AuthenticationRequired", "CardBusy", "CardClient", "CardError",
    "CardInfo", "CardNotFound", "CardRejected", "CardStorageError", "CardTimeout",
    "NotProvisioned", "ProtocolError", "SessionLost", "TransportError",
]


class CardError(DscError):
    """The card answered with an error code (`code`, a `dsc.protocol.ERR_*`)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class ProtocolError(CardError):
    """The card's answer or our frame did not follow the protocol (garbled, unexpected)."""


class AuthenticationFailed(CardError):
    """The admin key is wrong for this card (or the card is not the one it claims to be)."""


class AuthenticationRequired(CardError):
    """The command needs an AUTH session: the card is provisioned."""


class CardBusy(CardError):
    """The card refuses AUTH for now after wrong attempts; retry after `retry_after_ms`."""

    def __init__(self, message: str, code: int = 0, retry_after_ms: int = 0) -> None:
        super().__init__(message, code)
        self.retry_after_ms = retry_after_ms


class NotProvisioned(CardError):
    """The card is blank (no secret, no admin key)."""


class CardRejected(CardError):
    """The card refused a value (out of range, unknown suite, wrong challenge format)."""


class CardStorageError(CardError):
    """The card could not write (or read) its flash; its old record stays."""


class SessionLost(ProtocolError):
    """The card closed the session (idle, replay, bad tag): authenticate again."""


_ERRORS: dict[int, tuple[type[CardError], str]] = {
    P.ERR_FRAME_BASE64: (ProtocolError, "the card could not read a frame (base64)"),
    P.ERR_FRAME_LENGTH: (ProtocolError, "the card could not read a frame (length)"),
    P.ERR_FRAME_CRC: (ProtocolError, "the card could not read a frame (CRC)"),
    P.ERR_FRAME_VERSION: (ProtocolError, "the card speaks another protocol version"),
    P.ERR_UNKNOWN_COMMAND: (ProtocolError, "the card does not know this command"),
    P.ERR_BAD_PAYLOAD: (CardRejected, "the card rejected a field (missing or out of range)"),
    P.ERR_BAD_SUITE: (CardRejected, "the card rejected the OCRA suite"),
    P.ERR_BAD_STATE: (ProtocolError, "the command came out of order"),
    P.ERR_AUTH_REQUIRED: (AuthenticationRequired,
                          "the card is provisioned: this needs its admin key"),
    P.ERR_AUTH_FAILED: (AuthenticationFailed, "authentication failed: wrong admin key"),
    P.ERR_AUTH_DELAY: (CardBusy, "the card delays AUTH after wrong attempts"),
    P.ERR_SESSION: (SessionLost, "the card closed the session: authenticate again"),
    P.ERR_NOT_PROVISIONED: (NotProvisioned, "the card is not provisioned"),
    P.ERR_RECORD: (CardStorageError,
                   "the card's stored record is damaged: wipe it (or factory-reset the card)"),
    P.ERR_STORAGE: (CardStorageError, "the card could not write its flash; nothing changed"),
    P.ERR_INTERNAL: (CardError, "the card hit an internal error; nothing changed"),
}


# What a development board's console shows once main.py stopped (a Ctrl-C, mpremote, a crash).
_REPL_PROMPTS = (b"\r\n>>> ", b"raw REPL; CTRL-B to exit")
_UNREADABLE = {P.ERR_FRAME_BASE64: "base64", P.ERR_FRAME_LENGTH: "length",
               P.ERR_FRAME_CRC: "CRC"}


def card_error(code: int, retry_ms: int | None = None) -> CardError:
    cls, text = _ERRORS.get(code, (CardError, f"the card answered with error 0x{code:02x}"))
    if cls is CardBusy:
        wait = retry_ms or 0
        return CardBusy(f"{text}: retry in {wait / 1000:.1f} s", code, wait)
    return cls(text, code)


@dataclass(frozen=True)
class CardInfo:
    serial_number: str | None
    firmware: str
    board: str
    suite: str | None
    provisioned: bool
    locked: bool
    free_flash: int | None
    battery_mv: int | None
    record_error: str | None = None
    protocol: int = P.VERSION

    @classmethod
    def from_payload(cls, payload: bytes) -> CardInfo:
        try:
            f = P.tlv_decode(payload)
            free = int.from_bytes(f[P.T_FREE_FLASH], "big", signed=True) \
                if P.T_FREE_FLASH in f else None
            return cls(
                serial_number=_opt_text(f, P.T_SERIAL), firmware=f[P.T_FIRMWARE].decode(),
                board=f[P.T_BOARD].decode(), suite=_opt_text(f, P.T_SUITE),
                provisioned=f[P.T_PROVISIONED] == b"\x01", locked=f.get(P.T_LOCKED) == b"\x01",
                free_flash=None if free is None or free < 0 else free,
                battery_mv=int.from_bytes(f[P.T_BATTERY_MV], "big")
                if P.T_BATTERY_MV in f else None,
                record_error=_opt_text(f, P.T_RECORD_ERROR),
                protocol=f[P.T_PROTOCOL][0] if P.T_PROTOCOL in f else P.VERSION)
        except (KeyError, ValueError, IndexError, UnicodeDecodeError):
            raise ProtocolError("the card's INFO answer is malformed") from None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _u(value: int, size: int, name: str) -> bytes:
    if not 0 <= value < 1 << (8 * size):
        raise CardRejected(f"{name} is out of range")
    return bytes(P.uint(value, size))


def _tlv(fields: list[tuple[int, Any]]) -> bytes:
    try:
        return bytes(P.tlv_encode(fields))
    except (ValueError, UnicodeError):
        raise CardRejected("a field is too long (at most 255 bytes) or not ASCII") from None


def _version_error() -> ProtocolError:
    return ProtocolError(f"the card speaks another protocol version (this host speaks "
                         f"{P.VERSION}): update the host tools or the firmware",
                         P.ERR_FRAME_VERSION)


def _opt_text(f: dict[int, bytes], tag: int) -> str | None:
    return f[tag].decode("ascii") if tag in f else None


Builder = Callable[[int], bytes]  # request id -> payload (sealed payloads depend on it)


class CardClient:
    """Talks to one card. Methods raise `CardError` subclasses or `TransportError`s."""

    def __init__(self, transport: Transport, *, timeout: float = 3.0, retries: int = 2,
                 random: Callable[[int], bytes] = os.urandom) -> None:
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        self._random = random
        self._deframer = P.Deframer()
        self._unreadable: int | None = None  # last ERR_FRAME_* the card sent with request id 0
        self._tail = b""  # the last bytes received, to spot a REPL prompt or our echo in them
        self._repl = False  # this exchange met a REPL (or an echo): no firmware runs there
        self._rid = int.from_bytes(random(2), "big") % 0xFFFF
        self._session: S.Session | None = None
        self._serial: str | None = None
        self.bytes_sent = 0
        self.bytes_received = 0

    # --- plumbing ---
    def _next_rid(self) -> int:
        self._rid = self._rid % 0xFFFF + 1  # 1..65535; 0 marks the card's framing errors
        return self._rid

    def _exchange(self, ftype: int, build: Builder, retry: bool) -> bytes:
        """Send a request, return the payload of its response; raise on an error response."""
        attempts = 1 + (self.retries if retry else 0)
        self._unreadable = None
        self._tail = b""
        self._repl = False
        for attempt in range(attempts):
            rid = self._next_rid()
            line = P.encode(ftype, rid, build(rid))
            self.transport.send(line)
            self.bytes_sent += len(line)
            got = self._await(ftype, rid, line[:-1])
            if got is not None:
                return got
            if attempt + 1 < attempts:
                self._deframer.reset()
        tries = f" ({attempts} tries)" if attempts > 1 else ""
        if self._repl:
            raise CardTimeout(f"no answer from the card within {self.timeout:g} s{tries}; the "
                              "port echoes our lines or shows MicroPython's REPL, so the "
                              "firmware is not running: reset the card")
        if self._unreadable is not None:
            raise CardTimeout(f"no answer from the card within {self.timeout:g} s{tries}; it "
                              f"could not read our frames ({_UNREADABLE[self._unreadable]}): "
                              "a noisy line or a wrong baud rate?")
        raise CardTimeout(f"no answer from the card within {self.timeout:g} s{tries}: is it "
                          "running the OpenDSC firmware?")

    def _await(self, ftype: int, rid: int, sent: bytes) -> bytes | None:
        deadline = time.monotonic() + self.timeout
        while (left := deadline - time.monotonic()) > 0:
            data = self.transport.receive(left)
            self.bytes_received += len(data)
            seen = self._tail + data
            if sent in seen or any(prompt in seen for prompt in _REPL_PROMPTS):
                self._repl = True
            self._tail = seen[-(len(sent) + 32):]
            for err, rtype, rrid, payload in self._deframer.feed(data):
                if err == P.ERR_FRAME_VERSION:  # a good CRC: a card of another protocol version
                    raise _version_error()
                if not err and rtype == P.RSP_ERROR and rrid == 0:
                    self._framing_report(payload)
                if err or rrid != rid or not rtype & P.RSP_FLAG:
                    continue  # noise, a "~" in a debug print, a late answer, our own echo
                if rtype == P.RSP_ERROR:
                    raise self._error(payload)
                if rtype != ftype | P.RSP_FLAG:
                    raise ProtocolError(f"the card answered 0x{rtype:02x} to 0x{ftype:02x}")
                return bytes(payload)
        return None

    def _framing_report(self, payload: bytes) -> None:
        # The card could not read a line (request id 0): maybe ours, maybe noise before it; kept
        # for the timeout message. A version complaint passed a CRC: not noise, so we stop.
        try:
            code = P.tlv_decode(payload).get(P.T_CODE, b"")
        except ValueError:
            return
        if code == bytes((P.ERR_FRAME_VERSION,)):
            raise _version_error()
        if len(code) == 1 and code[0] in _UNREADABLE:
            self._unreadable = code[0]

    def _error(self, payload: bytes) -> CardError:
        try:
            f = P.tlv_decode(payload)
            code = f[P.T_CODE][0]
            retry = P.to_uint(f[P.T_RETRY_MS], 4) if P.T_RETRY_MS in f else None
        except (KeyError, ValueError, IndexError):
            return ProtocolError("the card's error answer is malformed")
        if code == P.ERR_AUTH_REQUIRED and self._session is not None:
            self._session = None  # the card ended it (idle, reboot, its record changed)
            idle_s = P.SESSION_IDLE_MS // 1000
            return AuthenticationRequired(f"the card has closed the session (idle for {idle_s} s, "
                                          "rebooted or its record changed): authenticate again",
                                          code)
        if code == P.ERR_SESSION:
            self._session = None
        return card_error(code, retry)

    def _sealed(self, ftype: int, fields: list[tuple[int, Any]], retry: bool) -> dict[int, bytes]:
        session = self._session
        if session is None:
            raise AuthenticationRequired("authenticate with the card's admin key first")
        plain = _tlv(fields)

        def build(rid: int) -> bytes:  # each attempt: a fresh sequence number
            return bytes(session.seal(ftype, rid, session.next_seq(), plain))

        payload = self._exchange(ftype, build, retry)
        rid = self._rid
        try:
            _seq, answer = session.open(ftype | P.RSP_FLAG, rid, payload)
            return dict(P.tlv_decode(answer))
        except (S.SessionError, ValueError):
            self._session = None
            raise SessionLost("the card's sealed answer failed its check") from None

    # --- commands ---
    def info(self) -> CardInfo:
        info = CardInfo.from_payload(self._exchange(P.CMD_INFO, lambda rid: b"", True))
        self._serial = info.serial_number
        return info

    def authenticate(self, admin_key: bytes) -> None:
        """AUTH: prove the admin key, check the card's proof, open a session."""
        if self._serial is None:
            self.info()
        serial = self._serial
        if serial is None:
            raise NotProvisioned("the card is not provisioned: it has no admin key yet")
        self._session = None
        nh = self._random(S.NONCE_LEN)
        f = self._fields(self._exchange(
            P.CMD_AUTH_BEGIN, lambda rid: P.tlv_encode([(P.T_NONCE, nh)]), True))
        nc, proof = f.get(P.T_NONCE, b""), f.get(P.T_PROOF, b"")
        if len(nc) != S.NONCE_LEN or len(proof) != S.PROOF_LEN:
            raise ProtocolError("the card's AUTH answer is malformed")
        if not S.compare_digest(S.card_proof(admin_key, nh, nc, serial), proof):
            raise AuthenticationFailed("the card did not prove this admin key: wrong admin key "
                                       "for this card", P.ERR_AUTH_FAILED)
        mine = S.host_proof(admin_key, nh, nc, serial)
        self._exchange(P.CMD_AUTH_FINISH, lambda rid: P.tlv_encode([(P.T_PROOF, mine)]), False)
        self._session = S.Session(admin_key, nh, nc, serial, False, P.VERSION)

    @staticmethod
    def _fields(payload: bytes) -> dict[int, bytes]:
        try:
            fields: dict[int, bytes] = P.tlv_decode(payload)
        except ValueError:
            raise ProtocolError("the card's answer is malformed") from None
        return fields

    @property
    def authenticated(self) -> bool:
        return self._session is not None

    def provision(self, serial_number: str, suite: str, secret: bytes, admin_key: bytes,
                  pin_len: int = record.DEFAULT_PIN_LEN, idle_ms: int = record.DEFAULT_IDLE_MS,
                  response_ms: int = record.DEFAULT_RESPONSE_MS, counter: int = 0) -> None:
        """Load a card. A blank card takes it in the clear (trusted first use); a provisioned
        card only inside a session. The session ends: authenticate with the new admin key.
        Without a session, a card that INFO showed provisioned is refused here, before the seed
        and the admin key go on the line in the clear."""
        if self._session is None and self._serial is not None:
            raise AuthenticationRequired("the card is provisioned: authenticate with its admin "
                                         "key first (the seed never goes to it in the clear)")
        fields: list[tuple[int, Any]] = [
            (P.T_SERIAL, serial_number), (P.T_SUITE, suite), (P.T_SECRET, secret),
            (P.T_ADMIN_KEY, admin_key), (P.T_PIN_LEN, _u(pin_len, 1, "pin_len")),
            (P.T_IDLE_MS, _u(idle_ms, 4, "idle_ms")),
            (P.T_RESPONSE_MS, _u(response_ms, 4, "response_ms"))]
        if counter:
            fields.append((P.T_COUNTER, _u(counter, 8, "counter")))
        plain = _tlv(fields)
        try:
            if self._session is not None:
                self._sealed(P.CMD_PROVISION, fields, False)
            else:
                self._exchange(P.CMD_PROVISION, lambda rid: plain, False)
        finally:
            self._session = None
        self._serial = serial_number

    def set_config(self, pin_len: int | None = None, idle_ms: int | None = None,
                   response_ms: int | None = None) -> None:
        fields: list[tuple[int, Any]] = []
        if pin_len is not None:
            fields.append((P.T_PIN_LEN, _u(pin_len, 1, "pin_len")))
        if idle_ms is not None:
            fields.append((P.T_IDLE_MS, _u(idle_ms, 4, "idle_ms")))
        if response_ms is not None:
            fields.append((P.T_RESPONSE_MS, _u(response_ms, 4, "response_ms")))
        if not fields:
            raise CardRejected("nothing to change")
        self._sealed(P.CMD_SET_CONFIG, fields, True)

    def set_time(self, unix_time: int) -> int | None:
        """SET_TIME (inside a session): set the card's clock to `unix_time` (seconds since
        1970 UTC, 2024..2099). Returns what the card's clock read before, None when unset.
        Retrying is safe: setting the same time twice is the same as once."""
        f = self._sealed(P.CMD_SET_TIME, [(P.T_TIME, _u(unix_time, 8, "unix_time"))], True)
        before = f.get(P.T_TIME)
        if before is None:
            return None
        if len(before) != 8:
            raise ProtocolError("the card's SET_TIME answer is malformed")
        return int.from_bytes(before, "big")

    def test(self, challenge: str, pin: str | None = None, *, timestamp: int | None = None,
             session_info: bytes | None = None) -> str:
        """The card's response to `challenge` (and PIN), computed with its secret."""
        fields: list[tuple[int, Any]] = [(P.T_CHALLENGE, challenge)]
        if pin is not None:
            fields.append((P.T_PIN, pin))
        if timestamp is not None:
            fields.append((P.T_TIMESTAMP, _u(timestamp, 8, "timestamp")))
        if session_info is not None:
            fields.append((P.T_SESSION_INFO, session_info))
        f = self._sealed(P.CMD_TEST, fields, True)
        digits = f.get(P.T_RESPONSE, b"")
        # Decimal digits; a suite with 0 digits (no truncation) answers the whole HMAC in hex.
        if not digits or digits.strip(b"0123456789abcdef"):
            raise ProtocolError("the card's TEST answer is malformed")
        return digits.decode()

    def wipe(self) -> None:
        """Erase the card (inside a session; without one, only a card whose stored record is
        damaged accepts it)."""
        try:
            if self._session is not None:
                self._sealed(P.CMD_WIPE, [], False)
            else:
                self._exchange(P.CMD_WIPE, lambda rid: b"", False)
        finally:
            self._session = None
        self._serial = None

    def lock(self) -> None:
        self._sealed(P.CMD_LOCK, [], True)

    def reboot(self) -> None:
        self._session = None
        self._exchange(P.CMD_REBOOT, lambda rid: b"", False)

    def close(self) -> None:
        self._session = None
        self.transport.close()

    def __enter__(self) -> CardClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
