"""The card's serial port (USB CDC or UART): a byte line between the card and the host.

`SerialLine` holds the two directions. The host reaches it in one of three ways:
  - `PtyPort`: a pseudo-terminal; its /dev/pts path works wherever a real port's path does
    (host tools' `--port`, pyserial, mpremote's `connect`);
  - `TcpPort`: a TCP server on 127.0.0.1; `socket://127.0.0.1:PORT` is a pyserial URL;
  - `InProcessTransport`: the host tools' Transport interface without any OS plumbing; its
    `receive` runs the board's virtual time until bytes arrive (fast, exact tests).
The pty and TCP ports exchange bytes from a pump thread while the board runs on the wall
clock. Like a USB CDC port with no terminal attached, output nobody reads is dropped once the
OS buffer is full, never blocking the card.

With `baud=N` the pty and TCP ports behave like a UART at N baud, 8N1: each byte takes 10 bit
times on the wire in each direction (the two directions are independent, full duplex), and
the pump hands a byte over only once the wall clock says the line has carried it. The pump
sleeps in its selector until the next byte is through (in slices of at least `SLICE_NS`, the
last byte of a burst on time: the selector waits whole ms and the rest is slept), so pacing
costs no busy-waiting. Host input beyond `RX_LIMIT` bytes in flight is left in the OS
buffer, so a host that writes faster than the line blocks as it would on a real port.
`InProcessTransport` runs in virtual time and is never throttled.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading
import time
import tty
from collections.abc import Callable

from host_tools.transport import Transport, TransportError

MAX_BUFFER = 1 << 16  # bytes kept per direction before the oldest are dropped (like a FIFO)
BITS_PER_BYTE = 10  # 8N1: a start bit, 8 data bits, a stop bit
SLICE_NS = 1_000_000  # a throttled pump wakes at most about once per ms while bytes flow
RX_LIMIT = 4096  # host->card bytes held in flight before the pump stops reading the host
# Unpaced, host->card bytes waiting for the card before the pump stops reading the host: a USB
# CDC device that does not read holds the host's writes back (flow control); none are dropped.
UNPACED_RX_LIMIT = 16384
TX_LIMIT = 4096  # card->host bytes held in flight; the rest waits in the SerialLine
IDLE_S = 0.5  # the pump's select timeout when nothing is in flight
_NS = 1_000_000_000
INTERRUPT_CHAR = b"\x03"  # Ctrl-C


class SerialLine:
    """Both directions of the card's port, safe to use from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.arrived = threading.Condition(self._lock)  # notified on card output
        self._to_card = bytearray()
        self._from_card = bytearray()
        self.on_input: list[Callable[[], None]] = []  # wake the board (serial wakes it)
        self.on_output: list[Callable[[], None]] = []  # wake the pty/TCP pump
        self.on_read: list[Callable[[], None]] = []  # the card took input (the pump reads on)
        # The board's interrupt character handler, like MicroPython's USB CDC / UART driver
        # watching for Ctrl-C (micropython.kbd_intr): called for each 0x03 from the host,
        # it returns True when it took the byte (it then never reaches the card's input).
        self.interrupt: Callable[[], bool] | None = None
        self.bytes_in = 0
        self.bytes_out = 0

    # --- host side ---
    def host_write(self, data: bytes) -> None:
        hook = self.interrupt
        if hook is not None and INTERRUPT_CHAR in data:
            parts = data.split(INTERRUPT_CHAR)
            self._push(parts[0], len(parts[0]))
            for part in parts[1:]:
                taken = hook()
                self._push(part if taken else INTERRUPT_CHAR + part, len(part) + 1)
        else:
            self._push(data, len(data))
        for cb in self.on_input:
            cb()

    def _push(self, data: bytes, crossed: int) -> None:
        with self._lock:
            self._to_card += data
            del self._to_card[:-MAX_BUFFER]
            self.bytes_in += crossed

    def host_read(self, limit: int = MAX_BUFFER) -> bytes:
        with self._lock:
            data = bytes(self._from_card[:limit])
            del self._from_card[:limit]
            return data

    def host_pending(self) -> int:
        with self._lock:
            return len(self._from_card)

    # --- card side ---
    def card_read(self, limit: int | None = None) -> bytes:
        """What the host sent (at most `limit` bytes; the rest stays for the next read)."""
        with self._lock:
            if limit is None or len(self._to_card) <= limit:
                data = bytes(self._to_card)
                self._to_card.clear()
            else:
                data = bytes(self._to_card[:limit])
                del self._to_card[:limit]
        if data:
            for cb in self.on_read:
                cb()
        return data

    def card_unread(self, data: bytes) -> None:
        """Put input back in front (the REPL hands what follows a soft reset to the firmware)."""
        if data:
            with self._lock:
                self._to_card[:0] = data

    def card_pending(self) -> int:
        with self._lock:
            return len(self._to_card)

    def card_write(self, data: bytes | bytearray | memoryview) -> None:
        with self._lock:
            self._from_card += data
            del self._from_card[:-MAX_BUFFER]
            self.bytes_out += len(data)
            self.arrived.notify_all()
        for cb in self.on_output:
            cb()

    def clear(self) -> None:
        """A reboot: the card's side forgets unread input (the host keeps its own buffer)."""
        with self._lock:
            self._to_card.clear()


class InProcessTransport(Transport):
    """`host_tools.transport.Transport` onto a SerialLine, for tests and the API.

    `run_until(done, timeout_ms)` is the board's: it runs the firmware (virtual time, or
    waits on the wall clock) until `done()` is true or timeout_ms pass.
    """

    def __init__(self, line: SerialLine,
                 run_until: Callable[[Callable[[], bool], int], None]) -> None:
        self._line = line
        self._run_until = run_until
        self.closed = False

    def send(self, data: bytes) -> None:
        self._check()
        self._line.host_write(bytes(data))

    def receive(self, timeout: float) -> bytes:
        self._check()
        if not self._line.host_pending():
            self._run_until(lambda: self._line.host_pending() > 0, max(0, int(timeout * 1000)))
        return self._line.host_read()

    def close(self) -> None:
        self.closed = True

    def _check(self) -> None:
        if self.closed:
            raise TransportError("the emulator's transport is closed")


def check_baud(baud: object) -> int:
    """A baud rate is a positive whole number of bits per second."""
    if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
        raise ValueError(f"baud must be a positive whole number of bits per second, "
                         f"not {baud!r}")
    return baud


class LinePacer:
    """One direction of a UART at `baud`, 8N1: holds bytes until the wire has carried them.

    While bytes are queued they leave back to back: byte k (from 1) of a busy period that
    began at `start` is through at start + ceil(k * 10 s / baud). Times are integer
    nanoseconds of `time.monotonic_ns()`, so rounding never lets the pacer run ahead of the
    line. An empty queue means the line is idle: every byte handed over had already arrived.
    """

    def __init__(self, baud: int) -> None:
        self.baud = check_baud(baud)
        self._queue = bytearray()
        self._start = 0  # ns: when the current busy period began
        self._done = 0  # bytes of the current busy period already handed over

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, data: bytes, now: int) -> None:
        """Queue bytes that reached the line's sending end at `now`."""
        if not data:
            return
        if not self._queue:
            self._start, self._done = now, 0
        self._queue += data

    def pop(self, now: int) -> bytes:
        """The bytes that have completely crossed the line by `now`."""
        through = (now - self._start) * self.baud // (BITS_PER_BYTE * _NS)
        n = max(0, min(len(self._queue), through - self._done))
        data = bytes(self._queue[:n])
        del self._queue[:n]
        self._done += n
        return data

    def wait_ns(self, now: int) -> int | None:
        """How long the pump may sleep before more bytes are through (None: nothing queued).

        Until the next byte is through, but no more often than once per slice, except that
        the last queued byte is handed over on time."""
        if not self._queue:
            return None
        following = self._through(self._done + 1)
        last = self._through(self._done + len(self._queue))
        return max(0, max(following, min(now + SLICE_NS, last)) - now)

    def _through(self, k: int) -> int:
        return self._start + -(-k * BITS_PER_BYTE * _NS // self.baud)


class _Port:
    """A pump thread between the SerialLine and one OS endpoint (pty master or socket).

    baud: None moves bytes as fast as the host allows; a number paces both directions as a
    UART at that rate would (see `LinePacer`).
    """

    url = ""

    def __init__(self, line: SerialLine, baud: int | None = None) -> None:
        self.line = line
        self.baud = None if baud is None else check_baud(baud)
        self._rx = LinePacer(baud) if baud is not None else None  # host -> card
        self._tx = LinePacer(baud) if baud is not None else None  # card -> host
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._pending = bytearray()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        line.on_output.append(self._wake)
        line.on_read.append(self._wake)

    def start(self) -> None:
        self._thread.start()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"w")

    def close(self) -> None:
        self._stop = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        with contextlib.suppress(ValueError):
            self.line.on_output.remove(self._wake)
        with contextlib.suppress(ValueError):
            self.line.on_read.remove(self._wake)
        self._close_endpoint()  # before the selector closes: a connected client unregisters
        self._sel.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _run(self) -> None:
        while not self._stop:
            for key, _ in self._select():
                if key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                else:
                    self._readable(key)
            self._move()

    def _select(self) -> list[tuple[selectors.SelectorKey, int]]:
        """Wait for the endpoint, a wake-up or the paced line's next due byte, on time.

        epoll waits whole milliseconds, rounding up (the selectors module does so to wait at
        least as long as asked): a frame's last byte would reach the card or the host up to
        1 ms late, which the card's next 1 ms poll then makes up to 2 ms, per exchange. So
        the whole milliseconds are waited in the selector and the rest slept exactly."""
        timeout = self._timeout()
        whole = int(timeout * 1000) / 1000
        events = self._sel.select(timeout=whole)
        if not events and timeout > whole:
            time.sleep(timeout - whole)
        return events

    def _move(self) -> None:
        """Hand over what the line has carried: host input to the card, card output out."""
        now = time.monotonic_ns()
        if self._rx is not None:
            data = self._rx.pop(now)
            if data:
                self.line.host_write(data)
            self._set_reading(len(self._rx) < RX_LIMIT)
        else:
            self._set_reading(self.line.card_pending() < UNPACED_RX_LIMIT)
        if self._tx is None:
            self._pending += self.line.host_read()
        else:
            self._tx.push(self.line.host_read(TX_LIMIT - len(self._tx)), now)
            self._pending += self._tx.pop(now)
        if self._pending:
            self._flush()

    def _timeout(self) -> float:
        now = time.monotonic_ns()
        waits = [p.wait_ns(now) for p in (self._rx, self._tx) if p is not None]
        due = [w for w in waits if w is not None]
        return min(due) / _NS if due else IDLE_S

    def _from_host(self, data: bytes) -> None:
        """Bytes the host wrote: to the card now, or once the paced line has carried them."""
        if self._rx is None:
            self.line.host_write(data)
        else:
            self._rx.push(data, time.monotonic_ns())

    def _set_reading(self, on: bool) -> None:
        """Watch the host's endpoint for input, or leave input in the OS buffer for now."""
        fileobj = self._endpoint()
        if fileobj is None:
            return
        watched = fileobj in self._sel.get_map()
        if on and not watched:
            self._sel.register(fileobj, selectors.EVENT_READ, "host")
        elif watched and not on:
            self._sel.unregister(fileobj)

    def _endpoint(self) -> int | socket.socket | None:
        raise NotImplementedError

    def _readable(self, key: selectors.SelectorKey) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        raise NotImplementedError

    def _close_endpoint(self) -> None:
        raise NotImplementedError


class PtyPort(_Port):
    """The card's port as a pseudo-terminal: `url` is the /dev/pts path to open."""

    def __init__(self, line: SerialLine, baud: int | None = None) -> None:
        super().__init__(line, baud)
        self._master, self._slave = os.openpty()
        # Raw mode on the terminal side: no echo, no line editing, no CR/LF translation, so
        # the service protocol's binary frames pass untouched. Keeping our own handle on the
        # slave stops reads on the master failing with EIO while no client has it open.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.url = os.ttyname(self._slave)
        self._sel.register(self._master, selectors.EVENT_READ, "host")
        self.start()

    def _endpoint(self) -> int:
        return self._master

    def _readable(self, key: selectors.SelectorKey) -> None:
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, OSError):
            return
        if data:
            self._from_host(data)

    def _flush(self) -> None:
        try:
            n = os.write(self._master, self._pending)
        except BlockingIOError:  # nobody reads the terminal: drop, as USB CDC does
            n = len(self._pending)
        except OSError:
            n = len(self._pending)
        del self._pending[:n]

    def _close_endpoint(self) -> None:
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class TcpPort(_Port):
    """The card's port as a TCP server: `url` is `socket://127.0.0.1:PORT` (one client)."""

    def __init__(self, line: SerialLine, port: int = 0, host: str = "127.0.0.1",
                 baud: int | None = None) -> None:
        super().__init__(line, baud)
        self._server = socket.create_server((host, port))
        self._server.setblocking(False)
        self.port = self._server.getsockname()[1]
        self.url = f"socket://{host}:{self.port}"
        self._client: socket.socket | None = None
        self._sel.register(self._server, selectors.EVENT_READ, "server")
        self.start()

    def _readable(self, key: selectors.SelectorKey) -> None:
        if key.data == "server":
            self._accept()
            return
        assert self._client is not None
        try:
            data = self._client.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._from_host(data)
        else:
            self._drop_client()

    def _endpoint(self) -> socket.socket | None:
        return self._client

    def _accept(self) -> None:
        try:
            conn, _ = self._server.accept()
        except BlockingIOError:
            return
        self._drop_client()  # a new client replaces the old one, like re-opening a port
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = conn
        self._sel.register(conn, selectors.EVENT_READ, "host")

    def _drop_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(self._client)  # maybe not watched while paced input waits
            self._client.close()
            self._client = None

    def _flush(self) -> None:
        if self._client is None:
            self._pending.clear()  # no host attached: the bytes are lost
            return
        try:
            n = self._client.send(self._pending)
        except BlockingIOError:
            return
        except OSError:
            self._drop_client()
            n = len(self._pending)
        del self._pending[:n]

    def _close_endpoint(self) -> None:
        self._drop_client()
        self._server.close()


def open_port(line: SerialLine, spec: str, baud: int | None = None) -> _Port:
    """`pty`, `tcp` (a free port) or `tcp:PORT`; `baud` paces it like a UART (None: unpaced)."""
    if baud is not None:
        check_baud(baud)
    if spec == "pty":
        return PtyPort(line, baud)
    if spec == "tcp":
        return TcpPort(line, baud=baud)
    if spec.startswith("tcp:"):
        try:
            port = int(spec[4:])
        except ValueError:
            raise ValueError(f"bad TCP port in {spec!r}") from None
        if not 0 <= port <= 65535:
            raise ValueError(f"bad TCP port in {spec!r}")
        return TcpPort(line, port, baud=baud)
    raise ValueError(f"unknown serial kind {spec!r}: use pty, tcp or tcp:PORT")
