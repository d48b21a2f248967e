"""Provisioning cards through fake card clients: TEST before recording, resume, batch."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import pytest
from dsc import ocra
from regkit import Env

from host_tools.client import AuthenticationFailed, CardError
from provisioning import provisioner
from provisioning.errors import ProvisionFailed

MASTER = b"M" * 32


def derive(master: bytes, serial: str) -> bytes:  # the tests' own diversification
    return hmac.new(master, serial.encode(), hashlib.sha256).digest()


@dataclass
class Info:
    serial_number: str | None
    provisioned: bool
    firmware: str = "0.1.0"
    board: str = "pico"
    locked: bool = False


class FakeCard:
    """A card as the client sees it; `fail` names a step that breaks once."""

    def __init__(self, fail: str | None = None, lie: bool = False,
                 ignore_lock: bool = False) -> None:
        self.serial: str | None = None
        self.suite = self.secret = self.admin = None
        self.fail, self.lie, self.authed, self.closed = fail, lie, False, 0
        self.clock: int | None = None
        self.locked, self.ignore_lock = False, ignore_lock

    def _maybe(self, step: str) -> None:
        if self.fail == step:
            self.fail = None
            raise CardError(f"card unplugged during {step}")

    def info(self) -> Info:
        return Info(self.serial, self.serial is not None, locked=self.locked)

    def authenticate(self, admin_key: bytes) -> None:
        self._maybe("auth")
        if admin_key != self.admin:
            raise AuthenticationFailed("wrong admin key")
        self.authed = True

    def provision(self, serial_number, suite, secret, admin_key, pin_len=4, idle_ms=30000,
                  response_ms=60000):  # type: ignore[no-untyped-def]
        assert self.serial is None or self.authed, "re-provisioning needs AUTH"
        self._maybe("provision")
        self.serial, self.suite, self.secret, self.admin = serial_number, suite, secret, admin_key
        self.authed = False

    def test(self, challenge: str, pin: str | None = None, *, timestamp: int | None = None) -> str:
        assert self.authed
        self._maybe("test")
        secret = b"x" * 32 if self.lie else self.secret
        return str(ocra.response(self.suite, secret, challenge, pin=pin, timestamp=timestamp))

    def set_time(self, unix_time: int) -> int | None:
        assert self.authed
        self._maybe("set_time")
        before, self.clock = self.clock, unix_time
        return before

    def wipe(self) -> None:
        assert self.authed
        self.serial = self.secret = None
        self.locked = False

    def lock(self) -> None:
        assert self.authed, "LOCK needs AUTH"
        self._maybe("lock")
        self.locked = self.locked or not self.ignore_lock

    def close(self) -> None:
        self.closed += 1


def test_one_card_is_recorded_only_after_test(env: Env) -> None:
    card = FakeCard()
    p = provisioner.provision_one(env.reg, card, MASTER, derive, provisioner.Options())
    assert p.serial_number == "DSC00000001" and card.serial == p.serial_number
    assert env.reg.card(p.serial_number).status == "provisioned"
    assert env.reg.seed(p.serial_number) == card.secret
    assert env.reg.admin_key(p.serial_number) == derive(MASTER, p.serial_number)


@pytest.mark.parametrize("step", ["provision", "auth", "test", "lock"])
def test_failure_midway_is_not_recorded_and_next_run_picks_up(env: Env, step: str) -> None:
    card = FakeCard(fail=step)
    with pytest.raises(ProvisionFailed, match="not recorded as provisioned"):
        provisioner.provision_one(env.reg, card, MASTER, derive, provisioner.Options())
    assert [c.status for c in env.reg.cards()] == ["blank"]
    p = provisioner.provision_one(env.reg, card, MASTER, derive, provisioner.Options())
    assert p.resumed is (step != "provision")
    expected = "DSC00000001" if p.resumed else "DSC00000002"
    assert p.serial_number == expected and env.reg.card(expected).status == "provisioned"
    assert env.reg.seed(expected) == card.secret


def test_wrong_test_response_is_not_recorded(env: Env) -> None:
    with pytest.raises(ProvisionFailed, match="wrong response"):
        provisioner.provision_one(env.reg, FakeCard(lie=True), MASTER, derive,
                                  provisioner.Options())
    assert env.reg.cards("provisioned") == []


def test_unknown_provisioned_card_is_refused(env: Env) -> None:
    card = FakeCard()
    card.serial = "XYZ1"
    with pytest.raises(ProvisionFailed, match="does not know: factory-reset"):
        provisioner.provision_one(env.reg, card, MASTER, derive, provisioner.Options())


def test_batch_waits_for_each_card_and_skips_done_ones(env: Env) -> None:
    # one port; the desk swaps cards: the first is already done and is shown twice
    done = FakeCard()
    provisioner.provision_one(env.reg, done, MASTER, derive, provisioner.Options())
    queue = [done, done, FakeCard(), FakeCard()]
    shown: list[FakeCard] = []

    def opener(port: str) -> FakeCard:
        card = queue[0] if queue else FakeCard()
        if shown and shown[-1] is card and card.serial is not None and len(queue) > 1:
            queue.pop(0)
            card = queue[0]
        shown.append(card)
        return card

    messages: list[str] = []
    bars: list[tuple[int, int]] = []
    batch = provisioner.provision_batch(
        env.reg, ["fake"], opener, 2, MASTER, derive, provisioner.Options(batch="b1"),
        wait=5, poll=0, report=messages.append, progress=lambda i, n: bars.append((i, n)))
    assert [p.serial_number for p in batch.done] == ["DSC00000002", "DSC00000003"]
    assert batch.skipped == ["DSC00000001"] and batch.failed is None
    assert bars == [(0, 2), (1, 2), (2, 2)]
    assert any("already done" in m for m in messages)
    assert {c.batch for c in env.reg.cards("provisioned")} == {None, "b1"}
    assert batch.as_json()["cards"][0]["serial_number"] == "DSC00000002"


def test_batch_gives_up_when_no_new_card_comes(env: Env) -> None:
    card = FakeCard()
    provisioner.provision_one(env.reg, card, MASTER, derive, provisioner.Options())
    batch = provisioner.provision_batch(env.reg, ["p"], lambda port: card, 1, MASTER, derive,
                                        provisioner.Options(), wait=0, poll=0)
    assert batch.done == [] and batch.failed == "no new card within 0 s"


def test_wipe_a_returned_card(env: Env) -> None:
    from provisioning import support

    card = FakeCard()
    serial = provisioner.provision_one(env.reg, card, MASTER, derive,
                                       provisioner.Options()).serial_number
    support.assign(env.reg, serial, "alice", "1234")
    with pytest.raises(Exception, match="it is assigned"):
        provisioner.wipe_card(env.reg, serial, card)
    support.mark_lost(env.reg, serial)
    support.return_card(env.reg, serial)
    provisioner.wipe_card(env.reg, serial, card)
    assert card.serial is None and env.reg.card(serial).status == "wiped"


def test_bad_suite_is_refused_before_any_card_is_touched(env: Env) -> None:
    from provisioning.errors import InvalidInputError

    def opener(port: str) -> FakeCard:
        raise AssertionError("no card may be opened")

    with pytest.raises(InvalidInputError, match="bad OCRA suite"):
        provisioner.provision_batch(env.reg, ["p"], opener, 1, MASTER, derive,
                                    provisioner.Options(suite="OCRA-1:HOTP-MD5-8:QN06"))
    assert env.reg.cards() == []


def test_batch_does_not_count_its_own_cards_as_already_done(env: Env) -> None:
    # the desk leaves each card on the port a while after it is done, then swaps it
    a, b = FakeCard(), FakeCard()
    shown = [a, a, a, a, b]

    def opener(port: str) -> FakeCard:
        return shown.pop(0) if len(shown) > 1 else shown[0]

    messages: list[str] = []
    batch = provisioner.provision_batch(env.reg, ["fake"], opener, 2, MASTER, derive,
                                        provisioner.Options(), wait=5, poll=0,
                                        report=messages.append)
    assert [p.serial_number for p in batch.done] == ["DSC00000001", "DSC00000002"]
    assert batch.skipped == [] and batch.failed is None
    assert not any("already done" in m for m in messages)


def test_progress_messages_get_lines_of_their_own(capsys: pytest.CaptureFixture[str]) -> None:
    from host_tools.cli.cmd_provision import _ProgressBar

    bar = _ProgressBar()
    bar.draw(0, 2)
    bar.say("provisioned DSC00000001: connect the next card")
    bar.draw(1, 2)
    bar.draw(2, 2)
    bar.close()
    lines = capsys.readouterr().err.split("\n")
    assert lines[0] == "\r[" + "." * 30 + "] 0/2"
    assert lines[1] == "provisioned DSC00000001: connect the next card"
    assert lines[2].endswith("\r[" + "#" * 30 + "] 2/2") and lines[3] == ""


def test_a_card_for_issue_leaves_locked_and_says_so(env: Env) -> None:
    card = FakeCard()
    p = provisioner.provision_one(env.reg, card, MASTER, derive, provisioner.Options())
    assert card.locked and p.locked
    view = env.reg.card(p.serial_number)
    assert view.status == "provisioned" and view.development is False


def test_a_card_that_does_not_confirm_the_lock_is_not_recorded(env: Env) -> None:
    with pytest.raises(ProvisionFailed, match="did not confirm the production lock"):
        provisioner.provision_one(env.reg, FakeCard(ignore_lock=True), MASTER, derive,
                                  provisioner.Options())
    assert [c.status for c in env.reg.cards()] == ["blank"]


def test_a_development_card_is_an_explicit_choice_and_recorded(env: Env) -> None:
    card = FakeCard()
    p = provisioner.provision_one(env.reg, card, MASTER, derive,
                                  provisioner.Options(development=True))
    assert not card.locked and not p.locked
    assert env.reg.card(p.serial_number).development is True
    from provisioning import audit

    assert audit.entries(env.reg.db, action="provision")[-1].detail["development"] is True


def test_rerunning_a_partly_done_multi_port_batch_finishes_it(env: Env) -> None:
    cards = {"p1": FakeCard(), "p2": FakeCard(fail="test"), "p3": FakeCard()}
    batch = provisioner.provision_batch(env.reg, list(cards), cards.__getitem__, None, MASTER,
                                        derive, provisioner.Options(), wait=0.2, poll=0)
    assert len(batch.done) == 1 and batch.failed is not None
    bars: list[tuple[int, int]] = []
    t0 = time.monotonic()
    batch = provisioner.provision_batch(env.reg, list(cards), cards.__getitem__, None, MASTER,
                                        derive, provisioner.Options(), wait=30, poll=0,
                                        progress=lambda i, n: bars.append((i, n)))
    assert time.monotonic() - t0 < 5  # no waiting for a card that will never come
    assert batch.failed is None and batch.wanted == 3
    assert len(batch.done) == 2 and len(batch.skipped) == 1
    assert bars[-1] == (3, 3)
    assert sorted(c.status for c in env.reg.cards()) == ["provisioned"] * 3


def test_a_mistyped_port_is_named_at_once(env: Env) -> None:
    from host_tools.transport import CardNotFound
    from provisioning.errors import InvalidInputError

    good = FakeCard()

    def opener(port: str) -> FakeCard:
        if port == "/dev/ttyACMO":
            raise CardNotFound(f"cannot open {port}: no such port")
        return good

    t0 = time.monotonic()
    with pytest.raises(InvalidInputError, match="cannot open port /dev/ttyACMO"):
        provisioner.provision_batch(env.reg, ["/dev/ttyACM0", "/dev/ttyACMO"], opener, None,
                                    MASTER, derive, provisioner.Options(), wait=300, poll=0)
    assert time.monotonic() - t0 < 5 and env.reg.cards() == [] and good.serial is None


def test_a_hostile_serial_number_is_escaped_in_the_refusal(env: Env) -> None:
    card = FakeCard()
    card.serial = "X\x1b]0;pwned\x07\x1b[2J"
    with pytest.raises(ProvisionFailed) as e:
        provisioner.provision_one(env.reg, card, MASTER, derive, provisioner.Options())
    assert "\x1b" not in str(e.value) and "\\x1b]0;pwned" in str(e.value)
