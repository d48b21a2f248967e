"""A soft card's life cycle is active, disabled, removed: every card-only action (lost, found,
replace, return, wipe, retire, temporary access in its place, a second holder) is refused for
it, with the same reason, in the library, the `dsc` command and the API; its own actions
(disable, enable, remove) work on all three and are refused for a hardware card."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from apikit import Api

from host_tools.cli import main
from provisioning import softcard, support, temporary
from provisioning.errors import SoftCardRefusal
from provisioning.registry import Registry

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"


def _soft(api: Api, user: str = "alice") -> str:
    """A soft card as an activation leaves it: provisioned (board soft), assigned, active."""
    reg = api.env.reg
    serial = reg.allocate_serial(SUITE, board="soft")
    reg.confirm_provisioned(serial, seed=b"S" * 32, admin_key=b"A" * 32, suite=SUITE,
                            board="soft")
    has_pin = reg.db.one("SELECT pin_enc FROM users WHERE name = ? AND pin_enc IS NOT NULL",
                         (user,)) is not None
    support.assign(reg, serial, user, None if has_pin else "1234")
    support.activate(reg, serial)
    return serial


def _stock(api: Api) -> str:
    return api.env.card(SUITE)


LIBRARY: dict[str, Callable[[Registry, str, str], Any]] = {
    "lost": lambda reg, soft, spare: support.mark_lost(reg, soft),
    "found": lambda reg, soft, spare: support.found(reg, soft),
    "replace": lambda reg, soft, spare: support.replace(reg, soft, spare),
    "return": lambda reg, soft, spare: support.return_card(reg, soft),
    "wipe": lambda reg, soft, spare: support.check_can(reg, soft, "wipe"),
    "retire": lambda reg, soft, spare: support.finish(reg, soft, "retire"),
    "passcode": lambda reg, soft, spare: temporary.issue_passcode(reg, "alice", soft),
    "security-card": lambda reg, soft, spare: temporary.issue_security_card(reg, "alice", soft),
    "second-holder": lambda reg, soft, spare: support.assign(reg, soft, "bob", "4321"),
}


@pytest.mark.parametrize("action", sorted(LIBRARY))
def test_library_refuses_card_only_actions(api: Api, action: str) -> None:
    api.env.active("alice")
    soft, spare = _soft(api), _stock(api)
    before = api.env.reg.card(soft)
    audit_before = api.audit_count()
    with pytest.raises(SoftCardRefusal) as refused:
        LIBRARY[action](api.env.reg, soft, spare)
    assert refused.value.reason == "softcard-action" and refused.value.status == "active"
    assert "soft card" in str(refused.value) and "disabled or removed" in str(refused.value)
    assert api.env.reg.card(soft) == before  # nothing changed
    assert api.env.reg.card(spare).status == "provisioned"
    assert api.audit_count() == audit_before


def test_a_lost_card_is_not_replaced_by_a_soft_card(api: Api) -> None:
    hard = api.env.active("alice")
    support.mark_lost(api.env.reg, hard)
    soft = _soft(api, "bob")
    with pytest.raises(SoftCardRefusal):
        support.replace(api.env.reg, hard, soft)
    assert api.env.reg.card(hard).status == "lost"


def test_temporary_access_stands_in_for_the_dsc_card_not_the_soft_card(api: Api) -> None:
    hard = api.env.active("alice")
    soft = _soft(api)
    _, _, _ = temporary.issue_passcode(api.env.reg, "alice")  # the only candidate: the card
    assert api.env.reg.card(hard).status == "unavailable"
    assert api.env.reg.card(soft).status == "active"
    # a holder with only a soft card gets no temporary access in its place
    _soft(api, "carol")
    with pytest.raises(SoftCardRefusal):
        temporary.issue_passcode(api.env.reg, "carol")


def test_a_disabled_soft_card_offers_enable_or_remove(api: Api) -> None:
    api.env.active("alice")
    soft = _soft(api)
    softcard.set_state(api.env.reg, soft, "disable")
    with pytest.raises(SoftCardRefusal) as refused:
        support.mark_lost(api.env.reg, soft)
    assert refused.value.status == "disabled" and "enabled or removed" in str(refused.value)


CLI = {
    "lost": ["lost", "{soft}"],
    "found": ["found", "{soft}"],
    "return": ["return", "{soft}"],
    "retire": ["retire", "{soft}"],
    "replace": ["replace", "{soft}", "{spare}"],
    "temp-passcode": ["temp-passcode", "alice", "--serial-number", "{soft}"],
}


@pytest.mark.parametrize("action", sorted(CLI))
def test_cli_refuses_card_only_actions(api: Api, action: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    api.env.active("alice")
    soft, spare = _soft(api), _stock(api)
    argv = [a.format(soft=soft, spare=spare) for a in CLI[action]]
    opts = ["--db", api.env.url, "--master-key-file", str(api.env.key_file)]
    capsys.readouterr()
    assert main([*argv, *opts]) == 1
    err = capsys.readouterr().err
    assert "soft card" in err and "dsc softcard disable|enable|remove SERIAL" in err
    assert main([*argv, *opts, "--json"]) == 1
    out = json.loads(capsys.readouterr().err)
    assert (out["type"], out["reason"], out["exit_status"], out["status"]) == \
        ("SoftCardRefusal", "softcard-action", 1, "active")
    assert api.env.reg.card(soft).status == "active"


def test_cli_soft_card_actions_and_a_hardware_card(api: Api,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    hard = api.env.active("alice")
    soft = _soft(api)
    opts = ["--db", api.env.url, "--master-key-file", str(api.env.key_file)]
    for action, status in (("disable", "disabled"), ("enable", "active"),
                           ("remove", "removed")):
        assert main(["softcard", action, soft, *opts, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["status"] == status
    assert main(["softcard", "disable", hard, *opts]) == 1  # a card has its own life cycle
    assert "not a soft card" in capsys.readouterr().err
    assert api.env.reg.card(hard).status == "active"


def test_api_refuses_lost_and_offers_disable_enable_remove(api: Api) -> None:
    hard = api.env.active("alice")
    soft = _soft(api)
    tok = api.support_token
    r = api.post(f"/v1/support/cards/{soft}/lost", {}, tok)
    assert r.status_code == 409, r.text
    body = r.json()
    assert (body["reason"], body["status_of_card"]) == ("softcard-action", "active")
    assert "disabled or removed" in body["detail"]
    assert api.env.reg.card(soft).status == "active"
    for action, status in (("disable", "disabled"), ("enable", "active"),
                           ("remove", "removed")):
        r = api.post(f"/v1/support/cards/{soft}/{action}", {}, tok)
        assert r.status_code == 200 and r.json()["status"] == status, r.text
    r = api.post(f"/v1/support/cards/{soft}/enable", {}, tok)  # removed is final
    assert r.status_code == 409 and r.json()["reason"] == "card-state"
    r = api.post(f"/v1/support/cards/{hard}/disable", {}, tok)
    assert r.status_code == 409 and r.json()["reason"] == "card-state"
    assert api.env.reg.card(hard).status == "active"
    r = api.post(f"/v1/support/cards/{soft}/disable", {})  # a verify token may not
    assert r.status_code == 403 and r.json()["reason"] == "forbidden-scope"
