"""The soft card page without a browser: the firmware's App on the browser HAL in a thread (what
softcard.js does), and the page's side of the activation socket over a real WebSocket."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

from dsc.app import App
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from host_tools.bridge import QueueTransport

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "firmware"))
from softcard.hal_browser import BrowserHal

SOCKET = "/softcard/v1/activate"


class PageCard:
    """What the page does, in a thread: App.step() on the browser HAL, bytes both ways over
    `transport` (the client's bytes come in with transport.send, the card's go out through
    transport.receive)."""

    def __init__(self, transport: QueueTransport) -> None:
        self.t = [5_000_000]
        self.hal = BrowserHal(clock=lambda: self.t[0])
        self.app = App(self.hal, True)
        self.transport = transport
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set() and not self.transport.closed:
            data = self.transport.to_card(0.005)
            if data:
                self.hal.feed(data.hex())
            self.app.step()
            self.t[0] += 10
            out = self.hal.take_serial()
            if out:
                self.transport.from_card(bytes.fromhex(out))

    def close(self) -> None:
        self.stop.set()
        self.transport.close()
        self.thread.join(2)


def ws_url(http_url: str) -> str:
    return "ws" + http_url.removeprefix("http") + SOCKET


def open_socket(http_url: str, origin: str | None = None) -> ClientConnection:
    return connect(ws_url(http_url), origin=origin or http_url,  # type: ignore[arg-type]
                   open_timeout=10, max_size=1 << 20)


def activate(http_url: str, code: str, *, drop_after: int | None = None,
             page: PageCard | None = None) -> dict[str, Any]:
    """The page's side: send the code, carry the bytes both ways, return the server's last
    message (with `close_code`). `drop_after`: close the socket after that many messages from
    the server (a tab closed, a network gone)."""
    t = QueueTransport("page")
    card = page or PageCard(t)
    if page is not None:
        t = page.transport
    last: dict[str, Any] = {}
    claimed = None
    sent = [0]  # messages the page sent after the code
    with open_socket(http_url) as ws:
        ws.send(json.dumps({"code": code}))
        done = threading.Event()

        def out() -> None:  # the card's answers to the server
            while not done.is_set():
                data = t.receive(0.02)  # the page card's output
                if data:
                    try:
                        sent[0] += 1
                        ws.send(data)
                    except ConnectionClosed:
                        return
        sender = threading.Thread(target=out, daemon=True)
        sender.start()
        seen = 0
        try:
            while True:
                msg = ws.recv(timeout=60)
                seen += 1
                if isinstance(msg, bytes):
                    t.send(msg)  # the server's client -> the card
                else:
                    body = json.loads(msg)
                    if body.get("state") == "claimed":
                        claimed = body["user"]
                    else:
                        last = body
                if drop_after is not None and seen >= drop_after:
                    ws.close()  # a clean close frame; see drop() for an abrupt one
                    break
        except ConnectionClosed as e:
            last["close_code"] = e.rcvd.code if e.rcvd else None
        finally:
            done.set()
            sender.join(2)
    if page is None:
        card.close()
    last.setdefault("close_code", ws.close_code)
    last["page"] = card
    if claimed is not None:
        last["claimed"] = claimed
    last["messages"] = {"from_server": seen, "from_page": sent[0]}
    return last
