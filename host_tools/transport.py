"""Byte transports to one card: a serial port, a pty, or any pyserial URL (socket://, loop://).

The transport only moves bytes; framing is `dsc.protocol` and the request logic is
`host_tools.client`. The emulator offers the same interface (`emulator.Emulator.transport()`).
"""

from __future__ import annotations

import errno
import time

import serial

from host_tools.errors import DscError


class TransportError(DscError):
    """The link to the card failed while in use (unplugged, closed, I/O error)."""


class CardNotFound(TransportError):
    """No card answers on the port, or the port cannot be opened."""


class CardTimeout(TransportError):
    """The card did not answer in time."""


class Transport:
    """The interface every transport offers (see docs/architecture.md)."""

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    def receive(self, timeout: float) -> bytes:
        """What arrives within `timeout` seconds: returns as soon as some bytes came (maybe b"")."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialTransport(Transport):
    """A pyserial port: a device path, a pty path or a URL handled by `serial_for_url`."""

    def __init__(self, port: serial.Serial, name: str) -> None:
        self._port = port
        self.name = name

    def send(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as e:
            raise TransportError(_io_failure("writing to", self.name, e)) from None

    def receive(self, timeout: float) -> bytes:
        deadline = time.monotonic() + max(0.0, timeout)
        try:
            while True:
                waiting = self._port.in_waiting
                if waiting:
                    return bytes(self._port.read(waiting))
                left = deadline - time.monotonic()
                if left <= 0:
                    return b""
                self._port.timeout = min(left, 0.05)
                first = self._port.read(1)
                if first:
                    return bytes(first) + bytes(self._port.read(self._port.in_waiting))
        except (serial.SerialException, OSError) as e:
            raise TransportError(_io_failure("reading from", self.name, e)) from None

    def close(self) -> None:
        try:
            self._port.close()
        except (serial.SerialException, OSError):
            pass


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# What a port says when the device behind it is gone: a USB CDC unplugged or reset, a pty whose
# other end (an emulator) died. pyserial folds the errno into its message.
_GONE = ("returned no data", *(f"[Errno {n}]" for n in (errno.EIO, errno.ENXIO, errno.ENODEV)))
_OPEN_HINTS = {
    errno.ENOENT: "no such port (is the card plugged in?)",
    errno.EACCES: "permission denied (on Linux, join the dialout group)",
    errno.EBUSY: "the port is busy (another program has it open)",
}


def _io_failure(doing: str, name: str, e: BaseException) -> str:
    if any(sign in str(e) for sign in _GONE):
        return f"lost the card on {name} ({doing} it failed): unplugged or reset?"
    return f"{doing} {name} failed: {_reason(e)}"


def open_transport(port: str, baudrate: int = 115200) -> Transport:
    """Open a device path, a pty path or a pyserial URL (socket://HOST:PORT, loop://)."""
    if not port:
        raise CardNotFound("no port given")
    try:
        ser = serial.serial_for_url(port, baudrate=baudrate, timeout=0.05, write_timeout=5)
    except (serial.SerialException, OSError, ValueError) as e:
        hint = _OPEN_HINTS.get(getattr(e, "errno", None) or 0) or _reason(e)
        raise CardNotFound(f"cannot open {port}: {hint}") from None
    return SerialTransport(ser, port)
