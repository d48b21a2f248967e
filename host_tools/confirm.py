"""The one confirmation after loading a card: TEST with fresh random inputs, checked against the
host's own OCRA (the firmware's `dsc.ocra`) with the seed just sent.

Both `dsc card provision` and the registry's provisioner (`provisioning.provisioner`) call
`confirm_seed` after PROVISION and AUTH: a card that answers right holds the new seed. The
clock and the random source are parameters, so a test can fix every value sent.
"""

from __future__ import annotations

import hmac
import random
import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

from dsc import ocra

from host_tools.client import CardError

_SYSTEM = secrets.SystemRandom()
_ALPHABETS = {"N": "0123456789", "H": "0123456789abcdef",
              "A": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}


class ConfirmationFailed(CardError):
    """The card's TEST answer after provisioning does not match the host's own OCRA result."""


class Tester(Protocol):
    def test(self, challenge: str, pin: str | None = None, *,
             timestamp: int | None = None) -> str: ...


def random_challenge(suite: Any, rng: random.Random = _SYSTEM) -> str:
    """A challenge in the suite's format (QN digits, QH hex, QA letters and digits)."""
    return "".join(rng.choice(_ALPHABETS[suite.q_fmt]) for _ in range(suite.q_len))


def confirm_seed(client: Tester, suite: Any, seed: bytes, *, pin_len: int,
                 now: Callable[[], float] = time.time, rng: random.Random = _SYSTEM) -> None:
    """TEST the card with a random challenge (and a random PIN, the current time step and random
    session data, as `suite` needs); raise ConfirmationFailed unless it answers what the host
    computes from `seed`. `suite` is a parsed `dsc.ocra` suite. Errors of the link pass through
    as the client raises them."""
    challenge = random_challenge(suite, rng)
    pin = "".join(rng.choice("0123456789") for _ in range(pin_len)) if suite.pin_hash else None
    ts = int(now()) // suite.time_step if suite.time_step else None
    session = rng.randbytes(suite.session_len) if suite.session_len else None
    counter = 0 if suite.counter else None
    expected = ocra.response(suite, seed, challenge, counter=counter, pin=pin, session=session,
                             timestamp=ts)
    if session is None:
        got = client.test(challenge, pin, timestamp=ts)
    else:  # only clients of session suites take session_info
        got = client.test(challenge, pin, timestamp=ts, session_info=session)  # type: ignore[call-arg]
    if not hmac.compare_digest(str(got).encode(), str(expected).encode()):
        raise ConfirmationFailed("the card's TEST response does not match the seed sent")
