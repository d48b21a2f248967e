"""Soft card activation without a browser: the code (once, expiring, logged), the queue transport
carrying the service protocol to the firmware's soft card HAL, the life cycle and the policy."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from apikit import Api
from dsc.app import App
from softpage import PageCard
from starlette.websockets import WebSocketDisconnect

from host_tools.admin_keys import derive_admin_key
from host_tools.bridge import QueueTransport
from host_tools.client import CardClient
from host_tools.transport import TransportError
from host_tools.web import softcard as softweb
from provisioning import policy, softcard
from provisioning.errors import CardStateError, InvalidInputError, NotFoundError

MASTER = b"M" * 32
ORIGIN = {"origin": "http://testserver"}  # the page's own origin, as a browser sends it


def test_code_is_single_use_and_refusals_are_logged(api: Api) -> None:
    api.env.active("alice")
    act = softcard.create(api.env.reg, "alice")
    assert len(softcard.normalise(act.code)) == softcard.CODE_LEN
    assert softcard.claim(api.env.reg, act.code.lower()) == "alice"
    with pytest.raises(softcard.ActivationRefused):
        softcard.claim(api.env.reg, act.code)
    rows = api.env.reg.db.all("SELECT outcome, detail FROM audit WHERE action = 'softcard-code'")
    assert [r["outcome"] for r in rows] == ["issued", "claimed", "refused"]
    assert act.code not in str([dict(r) for r in rows])  # the code is never logged
    stored = api.env.reg.db.all("SELECT code_hash FROM softcard_activations")
    assert softcard.normalise(act.code) not in str([dict(r) for r in stored])


def test_code_expires(api: Api) -> None:
    api.env.active("alice")
    act = softcard.create(api.env.reg, "alice")
    api.env.clock.advance(softcard.ACTIVATION_SECONDS)
    with pytest.raises(softcard.ActivationRefused):
        softcard.claim(api.env.reg, act.code)


def test_create_needs_a_user_with_a_pin(api: Api) -> None:
    with pytest.raises(NotFoundError):
        softcard.create(api.env.reg, "nobody")
    assert not softcard.check_code("short") and not softcard.check_code("0" * 12)


def test_activation_over_the_queue_transport_provisions_the_browser_hal(api: Api) -> None:
    api.env.active("alice")
    transport = QueueTransport()
    page = PageCard(transport)
    try:
        serial = softcard.activate(api.env.reg, CardClient(transport), "alice", MASTER,
                                   derive_admin_key)
    finally:
        transport.close()
        page.stop.set()
        page.thread.join(2)
    card = api.env.reg.card(serial)
    assert card.status == "active" and card.board == "soft"
    assert policy.card_type(api.env.reg.card_row(serial)) == "softcard"
    # the page's card holds the registry's seed: its answer verifies
    rec = page.app.record
    assert rec is not None and rec.serial == serial
    api.env.seeds[serial] = rec.secret
    assert api.env.login("alice", serial).accepted
    with pytest.raises(TransportError):
        transport.send(b"x")


def test_a_card_that_is_not_a_soft_card_is_refused(api: Api) -> None:
    api.env.active("alice")
    transport = QueueTransport()
    page = PageCard(transport)
    page.hal.board = dict(page.hal.board, name="pico")
    page.app = App(page.hal, True)
    try:
        with pytest.raises(InvalidInputError):
            softcard.activate(api.env.reg, CardClient(transport), "alice", MASTER,
                              derive_admin_key)
    finally:
        transport.close()
        page.stop.set()
    assert api.env.reg.db.one("SELECT COUNT(*) AS n FROM cards WHERE board = 'pico'")["n"] == 0


def _soft(api: Api) -> str:
    serial = api.env.reg.allocate_serial("OCRA-1:HOTP-SHA256-8:QN06-PSHA1", board="soft")
    api.env.reg.confirm_provisioned(serial, seed=b"S" * 32, admin_key=b"A" * 32,
                                    suite="OCRA-1:HOTP-SHA256-8:QN06-PSHA1", board="soft")
    api.env.seeds[serial] = b"S" * 32
    from provisioning import support
    support.assign(api.env.reg, serial, "alice", None)
    support.activate(api.env.reg, serial)
    return serial


def test_soft_card_life_cycle(api: Api) -> None:
    hard = api.env.active("alice")
    soft = _soft(api)
    assert softcard.set_state(api.env.reg, soft, "disable") == "disabled"
    r = api.post("/v1/challenges", {"user": "alice", "device": soft})
    assert r.status_code == 409 and r.json()["reason"] == "unknown-device"
    assert softcard.set_state(api.env.reg, soft, "enable") == "active"
    assert softcard.set_state(api.env.reg, soft, "remove") == "removed"
    with pytest.raises(CardStateError):
        softcard.set_state(api.env.reg, soft, "enable")
    with pytest.raises(CardStateError):
        softcard.set_state(api.env.reg, hard, "disable")  # a hardware card has its own


def test_policy_limit_of_the_softcard(api: Api) -> None:
    api.env.active("alice")
    soft = _soft(api)
    r = api.post("/v1/challenges", {"user": "alice", "device": soft, "purpose": "withdrawal",
                                    "amount": 1_000_001})
    assert r.status_code == 403 and r.json()["reason"] == "device-limit"
    ok = api.post("/v1/challenges", {"user": "alice", "device": soft, "purpose": "withdrawal",
                                     "amount": 1_000_000})
    assert ok.status_code == 201 and ok.json()["device_type"] == "softcard"
    devs = api.get("/v1/users/alice/devices").json()["devices"]
    assert {d["device_type"]: d["withdrawal_limit"] for d in devs} == \
        {"dsc-card": None, "softcard": 1_000_000}


def test_support_endpoint_gives_code_url_and_qr(api: Api) -> None:
    api.env.active("alice")
    r = api.client.post("/v1/support/softcards", json={"user": "alice"},
                        headers=api.headers(api.support_token))
    assert r.status_code == 201
    body = r.json()
    assert body["url"].endswith("/softcard#code=" + body["code"])
    assert body["qr_svg"].startswith("<svg") and "path" in body["qr_svg"]
    r = api.client.post("/v1/support/softcards", json={"user": "alice"}, headers=api.headers())
    assert r.status_code == 403 and r.json()["reason"] == "forbidden-scope"
    with api.client.websocket_connect("/softcard/v1/activate", headers=ORIGIN) as ws:
        ws.send_text('{"code": "AAAA-BBBB-CCCC"}')
        last = ws.receive_json()
    assert last["state"] in ("refused", "unavailable")


def test_page_is_served_with_a_strict_csp(api: Api) -> None:
    for path in ("/softcard", "/emulator", "/softcard/static/softcard.js",
                 "/softcard/vm/micropython.mjs", "/softcard/firmware/dsc/app.py"):
        r = api.client.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self' 'wasm-unsafe-eval'" in csp and "unsafe-inline" not in csp
    assert api.client.get("/softcard/firmware/dsc/..%2Frecord.py").status_code == 404
    assert api.client.get("/softcard/firmware/etc/passwd.py").status_code == 404
    assert api.client.get("/softcard/vm/package.json").status_code == 404
    assert "<script>" not in api.client.get("/softcard").text


def test_cli_softcard_create_and_remove(api: Api, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from host_tools.cli import main
    api.env.active("alice")
    reg_opts = ["--db", api.env.url, "--master-key-file", str(api.env.key_file)]
    qr = tmp_path / "qr.svg"
    assert main(["softcard", "create", "alice", *reg_opts, "--qr", str(qr), "--json",
                 "--base-url", "https://bank.example"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["url"] == "https://bank.example/softcard#code=" + out["code"]
    assert qr.read_text().startswith("<svg")
    assert softcard.claim(api.env.reg, out["code"]) == "alice"
    soft = _soft(api)
    assert main(["softcard", "disable", soft, *reg_opts]) == 0
    assert "disabled" in capsys.readouterr().out
    assert main(["softcard", "remove", soft, *reg_opts]) == 0
    assert api.env.reg.card(soft).status == "removed"


def _hello(api: Api, code: str) -> dict:  # type: ignore[type-arg]
    """Send `code` on the activation socket: the server's first answer."""
    with api.client.websocket_connect("/softcard/v1/activate", headers=ORIGIN) as ws:
        ws.send_text(json.dumps({"code": code}))
        return dict(ws.receive_json())


def test_activation_finds_the_master_admin_key_beside_the_registry_key(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from host_tools import admin_keys

    monkeypatch.delenv(admin_keys.MASTER_FILE_ENV, raising=False)
    api.env.active("alice")
    code = api.client.post("/v1/support/softcards", json={"user": "alice"},
                           headers=api.headers(api.support_token)).json()["code"]
    first = _hello(api, code)
    assert (first["state"], first["reason"]) == ("unavailable", "softcard-unavailable")
    assert admin_keys.ensure_master_key_file(api.env.key_file.parent / admin_keys.MASTER_FILE_NAME)
    assert _hello(api, code) == {"state": "claimed", "user": "alice"}  # the code was still good


def test_a_code_planted_by_sql_is_refused_on_the_socket(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row with the hash of a code of the attacker's choosing (no valid MAC): the page is told
    it is refused, with why; the row stays unused and no card is made."""
    monkeypatch.setenv("DSC_ADMIN_MASTER_KEY_FILE", str(_admin_key(api)))
    api.env.active("bob")
    code, now = "ABCD-EFGH-JKLM", api.env.clock.t
    api.env.reg.db.execute("INSERT INTO softcard_activations (code_hash, user_name, created_at, "
                           "expires_at) VALUES (?, 'bob', ?, ?)",
                           (softcard.code_hash(code), now, now + 600))
    cards = api.env.reg.db.all("SELECT id FROM cards")
    first = _hello(api, code)
    assert (first["state"], first["reason"]) == ("refused", "activation-refused")
    assert "integrity check" in first["detail"] and "bob" not in first["detail"]
    row = api.env.reg.db.one("SELECT used_at, serial_number FROM softcard_activations")
    assert row is not None and (row["used_at"], row["serial_number"]) == (None, None)
    assert api.env.reg.db.all("SELECT id FROM cards") == cards


def test_a_cross_site_handshake_is_refused_before_anything(api: Api) -> None:
    api.env.active("alice")
    code = softcard.create(api.env.reg, "alice").code
    for headers in ({"origin": "https://evil.example"}, {"origin": "https://testserver"}, {}):
        with pytest.raises(WebSocketDisconnect) as denied:  # uvicorn answers it with 403
            with api.client.websocket_connect("/softcard/v1/activate", headers=headers):
                pass
        assert denied.value.code == 1008
    assert softcard.claim(api.env.reg, code) == "alice"  # the code was never touched


@pytest.mark.parametrize("first, why, close_code", [
    (b"x" * (softweb.MAX_MESSAGE + 1), "at most", 1009),
    ("not json", "not an activation code", 1008),
    ('{"code": 12}', "not an activation code", 1008),
])
def test_bad_first_messages_end_the_socket(api: Api, first: bytes | str, why: str,
                                           close_code: int) -> None:
    with api.client.websocket_connect("/softcard/v1/activate", headers=ORIGIN) as ws:
        if isinstance(first, bytes):
            ws.send_bytes(first)
        else:
            ws.send_text(first)
        last, closed = _final(ws)
    assert why in last["detail"] and last["state"] in ("failed", "refused")
    assert closed == close_code


def _admin_key(api: Api) -> Path:
    from host_tools.admin_keys import new_master_key_file
    path = api.env.key_file.parent / "softcard-admin-master.key"
    if not path.exists():
        new_master_key_file(path)
    return path


def test_the_page_must_speak_soon_and_not_too_fast(api: Api,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(softweb, "HELLO_SECONDS", 0.2)
    monkeypatch.setenv("DSC_ADMIN_MASTER_KEY_FILE", str(_admin_key(api)))
    with api.client.websocket_connect("/softcard/v1/activate", headers=ORIGIN) as ws:
        last = ws.receive_json()  # nothing sent: the server gives up
    assert last["state"] == "failed" and "nothing from the page" in last["detail"]
    # after the code, a flood of messages from the page ends the activation, nothing recorded
    api.env.active("alice")
    code = softcard.create(api.env.reg, "alice").code
    with api.client.websocket_connect("/softcard/v1/activate", headers=ORIGIN) as ws:
        ws.send_text(json.dumps({"code": code}))
        assert ws.receive_json()["state"] == "claimed"
        for _ in range(softweb.BURST + 50):
            ws.send_bytes(b"\n")
        while True:
            msg = ws.receive()
            if msg.get("text"):
                last = json.loads(msg["text"])
                break
    assert last["state"] == "failed" and "messages a second" in last["detail"]
    soft = api.env.reg.db.all("SELECT status FROM cards WHERE board = 'soft'")
    assert all(r["status"] == "blank" for r in soft)
    failed = api.env.reg.db.all("SELECT user_name FROM audit WHERE action = 'softcard-activate' "
                                "AND outcome = 'failed'")
    assert failed and failed[-1]["user_name"] == "alice"


@pytest.mark.parametrize("bound, why", [("IDLE_SECONDS", "nothing from the page"),
                                        ("SESSION_SECONDS", "at most 0.3 seconds")])
def test_a_silent_or_slow_page_is_cut_off(api: Api, monkeypatch: pytest.MonkeyPatch,
                                          bound: str, why: str) -> None:
    """After the code the page never answers the server's INFO: the idle bound (or the whole
    activation's) ends it long before the client's own 5 s timeout, audited, nothing recorded."""
    monkeypatch.setenv("DSC_ADMIN_MASTER_KEY_FILE", str(_admin_key(api)))
    monkeypatch.setattr(softweb, bound, 0.3)
    api.env.active("alice")
    code = softcard.create(api.env.reg, "alice").code
    with api.client.websocket_connect("/softcard/v1/activate", headers=ORIGIN) as ws:
        ws.send_text(json.dumps({"code": code}))
        assert ws.receive_json()["state"] == "claimed"
        assert ws.receive_bytes()  # the client's INFO, left unanswered
        last, closed = _final(ws)
    assert last["state"] == "failed" and why in last["detail"], last
    assert closed == 1008
    assert not api.env.reg.db.all("SELECT id FROM cards WHERE board = 'soft'")
    assert api.env.reg.db.all("SELECT seq FROM audit WHERE action = 'softcard-activate' AND "
                              "outcome = 'failed'")


def test_the_old_http_carrier_is_gone(api: Api) -> None:
    r = api.client.post("/softcard/v1/activate", json={"code": "AAAA-BBBB-CCCC"})
    assert r.status_code in (404, 405)
    assert api.client.post("/softcard/v1/sessions/x/io", json={}).status_code == 404


def _final(ws: Any) -> tuple[dict[str, Any], int]:
    """Skip the card's bytes to the final status message; (that status, the close code)."""
    while True:
        msg = ws.receive()
        if msg.get("text"):
            last = json.loads(msg["text"])
            break
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    return last, closed.value.code


def _claimed(api: Api, code: str) -> Any:
    """A socket whose code is claimed, its activation waiting on the page (the context manager
    of the open WebSocket; the caller closes it)."""
    cm = api.client.websocket_connect("/softcard/v1/activate", headers=ORIGIN)
    ws = cm.__enter__()
    ws.send_text(json.dumps({"code": code}))
    assert ws.receive_json() == {"state": "claimed", "user": "alice"}
    assert ws.receive_bytes()  # the client's INFO: the activation holds its slot
    return cm


def test_the_fifth_activation_at_once_is_busy_and_its_code_untouched(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four activations hold the process's slots; a fifth is refused at once (`busy`, close
    1013) without its code being read, so the code still works; a slot given back serves the
    next page."""
    monkeypatch.setenv("DSC_ADMIN_MASTER_KEY_FILE", str(_admin_key(api)))
    assert softweb.MAX_ACTIVE == 4
    api.env.active("alice")
    held = [_claimed(api, softcard.create(api.env.reg, "alice").code)
            for _ in range(softweb.MAX_ACTIVE)]
    code = softcard.create(api.env.reg, "alice").code
    try:
        with api.client.websocket_connect("/softcard/v1/activate", headers=ORIGIN) as ws:
            ws.send_text(json.dumps({"code": code}))
            last, closed = _final(ws)
        assert last == {"state": "busy", "reason": "softcard-busy",
                        "detail": "too many activations at once: try again in a minute"}
        assert closed == 1013
    finally:
        for cm in held:
            cm.__exit__(None, None, None)
    claimed = api.env.reg.db.all("SELECT seq FROM audit WHERE action = 'softcard-code' AND "
                                 "outcome IN ('claimed', 'refused')")
    assert len(claimed) == softweb.MAX_ACTIVE  # the held four; the busy one claimed nothing
    # the held four give their slots back as their pages go away: the code works then
    for _ in range(100):
        if _hello(api, "not a code")["state"] == "refused":  # not busy: a slot is free
            break
        time.sleep(0.05)
    failed = api.env.reg.db.all("SELECT detail FROM audit WHERE action = 'softcard-activate' "
                                "AND outcome = 'failed'")
    assert len(failed) == softweb.MAX_ACTIVE  # the held four, each saying why
    assert all("the page closed the connection" in str(r["detail"]) for r in failed)
    assert _hello(api, code) == {"state": "claimed", "user": "alice"}


def test_the_bytes_of_an_activation_are_bounded(api: Api,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The page sends more than MAX_BYTES in all (each message small, slow enough for the rate
    bound): the activation ends (close 1008), nothing is recorded, and the audit says why."""
    monkeypatch.setenv("DSC_ADMIN_MASTER_KEY_FILE", str(_admin_key(api)))
    monkeypatch.setattr(softweb, "MAX_BYTES", 1024)
    api.env.active("alice")
    code = softcard.create(api.env.reg, "alice").code
    with api.client.websocket_connect("/softcard/v1/activate", headers=ORIGIN) as ws:
        ws.send_text(json.dumps({"code": code}))
        assert ws.receive_json()["state"] == "claimed"
        assert ws.receive_bytes()  # INFO
        for _ in range(5):  # 5 x 250 bytes, no end of line: the client is still reading
            ws.send_bytes(b"x" * 250)
        last, closed = _final(ws)
    assert last == {"state": "failed", "detail": "an activation may carry at most 1024 bytes"}
    assert closed == 1008
    assert not api.env.reg.db.all("SELECT id FROM cards WHERE board = 'soft'")
    failed = api.env.reg.db.all("SELECT user_name, detail FROM audit WHERE action = "
                                "'softcard-activate' AND outcome = 'failed'")
    assert len(failed) == 1 and failed[0]["user_name"] == "alice"
    assert "at most 1024 bytes" in json.loads(failed[0]["detail"])["message"]
    with pytest.raises(softcard.ActivationRefused):
        softcard.claim(api.env.reg, code)  # used up: the holder asks for a new one


@pytest.mark.parametrize("first", [
    "code-as-binary",                       # the right code, but in a binary message
    json.dumps({"code": -1}),
    json.dumps({"code": None}),
    json.dumps({"code": ["CODE"]}),
    json.dumps({"code": "A" * 4000}),       # under the message bound, far over a code
    json.dumps({"code": "ÄBCD-EFGH-JKLM"}),
    '{"code": NaN}',
    "[" * 2000 + "]" * 2000,                # nested past the JSON parser's recursion limit
])
def test_a_bad_hello_is_refused_and_the_code_untouched(api: Api, first: str) -> None:
    api.env.active("alice")
    code = softcard.create(api.env.reg, "alice").code
    with api.client.websocket_connect("/softcard/v1/activate", headers=ORIGIN) as ws:
        if first == "code-as-binary":
            ws.send_bytes(json.dumps({"code": code}).encode())
        else:
            ws.send_text(first)
        last, closed = _final(ws)
    assert last == {"state": "refused", "detail": "this is not an activation code",
                    "reason": "activation-refused"}
    assert closed == 1008
    assert not api.env.reg.db.all("SELECT seq FROM audit WHERE action = 'softcard-code' AND "
                                  "outcome = 'claimed'")
    assert softcard.claim(api.env.reg, code) == "alice"


def test_a_second_code_ends_the_activation_and_is_not_used(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """After its code, the page sends another (text, where the card's bytes are due): the
    activation fails (close 1008), and the second code is never read, so it still works."""
    monkeypatch.setenv("DSC_ADMIN_MASTER_KEY_FILE", str(_admin_key(api)))
    api.env.active("alice")
    first, second = (softcard.create(api.env.reg, "alice").code for _ in range(2))
    with api.client.websocket_connect("/softcard/v1/activate", headers=ORIGIN) as ws:
        ws.send_text(json.dumps({"code": first}))
        ws.send_text(json.dumps({"code": second}))
        assert ws.receive_json()["state"] == "claimed"
        last, closed = _final(ws)
    assert last == {"state": "failed", "detail": "the card's bytes come as binary messages"}
    assert closed == 1008
    assert not api.env.reg.db.all("SELECT id FROM cards WHERE board = 'soft'")
    assert softcard.claim(api.env.reg, second) == "alice"
