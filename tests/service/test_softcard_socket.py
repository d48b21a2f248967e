"""The soft card's activation over a real WebSocket: `dsc serve` as a process (SQLite, and
PostgreSQL with two worker processes), the page played by the firmware's App on the browser HAL
(tests/service/softpage.py)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from regkit import SUITE, Env
from serverkit import Server
from softpage import activate, open_socket
from websockets.exceptions import ConnectionClosed, InvalidStatus

from host_tools.admin_keys import MASTER_FILE_NAME, new_master_key_file
from provisioning import apiclients, softcard, support
from provisioning.registry import Registry


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Env, Server, str]]:
    key = tmp_path / "master.key"
    url = (str(request.getfixturevalue("pg_url")) if request.param == "postgres"
           else str(tmp_path / "reg.sqlite3"))
    monkeypatch.delenv("DSC_ADMIN_MASTER_KEY_FILE", raising=False)
    new_master_key_file(tmp_path / MASTER_FILE_NAME)  # beside the registry key: found there
    reg, _, _ = Registry.init(url, key, operator="tester")
    env = Env(reg, lambda: 0.0, url, key)  # type: ignore[arg-type]
    serial = env.card(SUITE)
    support.assign(reg, serial, "alice", "1234")
    support.activate(reg, serial)
    token = apiclients.add(reg, "bank", "verify")
    server = Server(url, key, workers=2 if request.param == "postgres" else 1)
    try:
        yield env, server, token
    finally:
        output = server.stop()
        reg.close()
        assert "Traceback" not in output, output


def _audit(env: Env, action: str, outcome: str) -> list[Any]:
    return env.reg.db.all("SELECT user_name, detail FROM audit WHERE action = ? AND "
                          "outcome = ? ORDER BY seq", (action, outcome))


def _login(server: Server, token: str, serial: str, page: Any) -> str:
    h = {"Authorization": f"Bearer {token}"}
    ch = httpx.post(server.url + "/v1/challenges", json={"user": "alice", "device": serial},
                    headers=h, timeout=10).json()
    from dsc import ocra
    rec = page.app.record
    got = ocra.response(rec.suite, rec.secret, ch["challenge"], pin="1234")
    r = httpx.post(f"{server.url}/v1/challenges/{ch['id']}/response", json={"response": got},
                   headers=h, timeout=10)
    return str(r.json()["status"])


def test_activations_at_once_each_on_its_own_socket(served: tuple[Env, Server, str]) -> None:
    """Three pages activate at once (on PostgreSQL spread over the two workers): each is a
    device of alice's, active, and logs in; no sticky routing needed."""
    env, server, token = served
    codes = [softcard.create(env.reg, "alice").code for _ in range(3)]
    results: list[dict[str, Any]] = [{} for _ in codes]

    def run(i: int) -> None:
        results[i] = activate(server.url, codes[i])
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(codes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    try:
        for r in results:
            assert (r.get("claimed"), r["state"], r["close_code"]) == ("alice", "active", 1000), r
            serial = r["serial_number"]
            card = env.reg.card(serial)
            assert (card.status, card.board) == ("active", "soft")
            assert _login(server, token, serial, r["page"]) == "accepted"
        assert len({r["serial_number"] for r in results}) == 3
        noted = env.reg.db.all("SELECT serial_number FROM softcard_activations")
        assert sorted(r["serial_number"] for r in noted) == \
            sorted(r["serial_number"] for r in results)  # each code notes its own card
    finally:
        for r in results:
            if "page" in r:
                r["page"].close()


def test_a_code_is_used_once_across_workers(served: tuple[Env, Server, str]) -> None:
    """One code raced from four sockets at once: one claims it, three are refused (with the
    two workers of PostgreSQL, the registry decides, not a process's memory); each refusal is
    in the audit log, the code never."""
    env, server, _ = served
    code = softcard.create(env.reg, "alice").code
    results: list[dict[str, Any]] = [{} for _ in range(4)]

    def run(i: int) -> None:
        results[i] = activate(server.url, code)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    for r in results:
        r.pop("page").close()
    states = sorted(r["state"] for r in results)
    assert states == ["active", "refused", "refused", "refused"], results
    assert all(r["reason"] == "activation-refused" and r["close_code"] == 1008
               for r in results if r["state"] == "refused")
    refused = _audit(env, "softcard-code", "refused")
    assert len(refused) == 3 and all("used" in str(r["detail"]) for r in refused)
    assert softcard.normalise(code) not in str([dict(r) for r in refused])


def test_a_cross_site_handshake_gets_403(served: tuple[Env, Server, str]) -> None:
    env, server, _ = served
    code = softcard.create(env.reg, "alice").code
    for origin in ("https://evil.example", server.url.replace("127.0.0.1", "localhost")):
        with pytest.raises(InvalidStatus) as refused:
            open_socket(server.url, origin=origin)
        assert refused.value.response.status_code == 403
    assert softcard.claim(env.reg, code) == "alice"  # untouched by the refused handshakes


def test_a_dropped_connection_records_nothing(served: tuple[Env, Server, str]) -> None:
    """The page goes away in the middle of the service protocol: the activation fails, it is
    audited, and alice has no soft card (at most the blank row of an unproved serial)."""
    env, server, _ = served
    code = softcard.create(env.reg, "alice").code
    r = activate(server.url, code, drop_after=3)  # claimed, then two frames of the protocol
    r.pop("page").close()
    assert r.get("claimed") == "alice"
    deadline = threading.Event()
    for _ in range(100):  # the server sees the close and stops the provisioning
        if _audit(env, "softcard-activate", "failed"):
            break
        deadline.wait(0.1)
    failed = _audit(env, "softcard-activate", "failed")
    assert failed and failed[-1]["user_name"] == "alice"
    soft = env.reg.db.all("SELECT serial_number, status FROM cards WHERE board = 'soft'")
    assert all(c["status"] == "blank" for c in soft), soft
    held = support.user_view(env.reg, "alice")["cards"]
    assert [c["status"] for c in held] == ["active"]  # the DSC+ card only
    with pytest.raises(softcard.ActivationRefused):
        softcard.claim(env.reg, code)  # used up: the holder asks for a new one


def _raw_text_frame(port: int, origin: str, payload: bytes) -> bytes:
    """Open the socket by hand and send one masked text frame with `payload` as it is (a
    client library would refuse to send bytes that are not UTF-8): what comes back."""
    import base64
    import os
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /softcard/v1/activate HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                   f"Origin: {origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        assert head.startswith(b"HTTP/1.1 101 "), head
        mask = os.urandom(4)
        s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask +
                  bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        got = b""
        while chunk := s.recv(4096):
            got += chunk
        return got


def test_a_code_that_is_not_utf8_is_closed_1007_and_changes_nothing(tmp_path: Path) -> None:
    """A text message that is not UTF-8 (the code's bytes mangled): the server closes the
    connection with 1007 (invalid data) before the application sees it; nothing is claimed."""
    key = tmp_path / "master.key"
    url = str(tmp_path / "reg.sqlite3")
    reg, _, _ = Registry.init(url, key, operator="tester")
    env = Env(reg, lambda: 0.0, url, key)  # type: ignore[arg-type]
    serial = env.card(SUITE)
    support.assign(reg, serial, "alice", "1234")
    code = softcard.create(reg, "alice").code
    server = Server(url, key)
    try:
        mangled = json.dumps({"code": code}).encode().replace(b'"}', b'\xff\xfe"}')
        got = _raw_text_frame(server.port, server.url, mangled)
    finally:
        output = server.stop()
    try:
        assert got[:2] == b"\x88\x02" and int.from_bytes(got[2:4], "big") == 1007, got
        assert not reg.db.all("SELECT seq FROM audit WHERE action = 'softcard-code' AND "
                              "outcome IN ('claimed', 'refused')")
        assert softcard.claim(reg, code) == "alice"
        # uvicorn 0.54's websockets-sansio logs a traceback of its own here (it closes the
        # connection a second time); none of it comes from OpenDSC's code
        assert "host_tools" not in output, output
    finally:
        reg.close()


def test_frames_after_the_final_status_change_nothing(served: tuple[Env, Server, str]) -> None:
    """A page that keeps talking after the server's last message (an activation that ended
    active, one refused): the server has closed, what it sends is not read, nothing changes."""
    env, server, _ = served
    code = softcard.create(env.reg, "alice").code
    r = activate(server.url, code)
    r.pop("page").close()
    assert (r["state"], r["close_code"]) == ("active", 1000)
    before = env.reg.db.all("SELECT seq, action, outcome FROM audit ORDER BY seq")
    with open_socket(server.url) as ws:
        ws.send(json.dumps({"code": code}))
        last = json.loads(ws.recv(timeout=10))
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(50):
                ws.send(b"PROVISION 00\n")
                ws.send(json.dumps({"code": code}))
                time.sleep(0.02)
    assert (last["state"], last["reason"]) == ("refused", "activation-refused")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    after = env.reg.db.all("SELECT seq, action, outcome FROM audit ORDER BY seq")
    new = [(a["action"], a["outcome"]) for a in after[len(before):]]
    assert new == [("softcard-code", "refused")]  # the one refusal, not one per frame
    soft = env.reg.db.all("SELECT serial_number, status FROM cards WHERE board = 'soft'")
    assert [c["serial_number"] for c in soft] == [r["serial_number"]]
