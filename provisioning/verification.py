"""Login verification: challenges, responses, the failure counter and locks, PIN change and
reactivation.

A verification is one transaction. It first locks the user's row (`SELECT ... FOR UPDATE` on
PostgreSQL; SQLite's `BEGIN IMMEDIATE` already holds the write lock), so concurrent attempts
for one user run one after the other and the failure count is exact. A challenge is single use:
any attempt with a well-formed response consumes it, right or wrong.

Failure counting is a sliding window: the user's row keeps the time of each failure of the
current run (no success in between). When a failure makes `max_failures` of them fall within
the last `failure_window` seconds, the user is locked for `lock_seconds` and the run starts
afresh; failures older than the window drop out one by one. Any accepted method (card,
passcode, security card) clears the run. Unknown, expired or reused challenges, attempts while
locked, and a correct response from a card that is unavailable are refused without counting:
they prove nothing against the holder. Every outcome goes to the audit log (never the response
itself).

What the holder types is normalised first (the card shows `0918 7865`: spaces and dashes go).
What then cannot be a response to this challenge at all — not digits, the wrong length,
full-width digits, a passcode in lower case — is `MalformedResponseError`: bad input, nothing
counted, the challenge still open. Only a well-formed wrong answer counts.

A card's challenges never repeat under one seed (`fpe`: the card's n-th challenge is a keyed
permutation of n), issuing is rate-limited and capped in open challenges per user (settings
`challenge_rate`, `challenge_rate_window`, `max_open_challenges`), and every row read here that
decides the outcome is checked against its MAC (`integrity`): a row written by SQL grants
nothing (`TamperedRowError`, logged).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from provisioning import audit, fpe, lifecycle, ocra_check, support, temporary
from provisioning.db import Pending, Row, retrying
from provisioning.errors import (
    CardStateError,
    ChallengeLimitError,
    InvalidInputError,
    MalformedResponseError,
    NotFoundError,
    Reason,
    TamperedRowError,
    UserStateError,
    VerificationRejected,
)
from provisioning.registry import Registry
from provisioning.timeutil import DAY, when

REASONS = tuple(Reason)
# The device behind each method (the withdrawal limit of issue 10 goes by it).
DEVICE_TYPES = {"card": "dsc-card", "security-card": "security-code-card",
                "passcode": "temporary-passcode"}


@dataclass(frozen=True)
class Challenge:
    id: str
    challenge: str
    expires_at: int
    user: str
    serial_number: str | None
    cells: str | None          # security-card cells to answer, when the user has one

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    """A verification's result as data: what an API returns without parsing `describe()`."""

    accepted: bool
    user: str
    reason: Reason | None = None           # why, when rejected
    method: str | None = None              # "card", "passcode" or "security-card"
    access: str | None = None              # "full" or "portal-only"
    serial_number: str | None = None
    attempts_remaining: int | None = None
    locked_until: int | None = None
    hint: str | None = None                # what to do instead, when there is something
    device_type: str | None = None         # DEVICE_TYPES of the method (or of the challenge's card)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        # portal-only is a status of its own: a caller that only looks at `status` must not
        # grant full access
        out["status"] = ("rejected" if not self.accepted else
                         "portal-only" if self.access == "portal-only" else "accepted")
        return out

    def describe(self) -> str:
        if self.accepted:
            via = f"card {self.serial_number}" if self.method == "card" else self.method
            return f"accepted: {self.user} by {via}, {self.access} access"
        if self.reason == Reason.LOCKED and self.locked_until is not None:
            return f"rejected: locked (until {when(self.locked_until)}; `dsc unlock` ends it early)"
        text = f"rejected: {self.reason}"
        if self.locked_until is not None:
            return f"{text}; the user is now locked until {when(self.locked_until)}"
        if self.attempts_remaining is not None and self.reason == Reason.WRONG:
            left = self.attempts_remaining
            text += f" ({left} attempt{'' if left == 1 else 's'} left before the user is locked)"
        if self.hint:
            text += f" ({self.hint})"
        return text


# --- challenges -----------------------------------------------------------------------------
_USER_ID = "(SELECT id FROM users WHERE name = ?)"  # a user's id from the name, in a statement


@dataclass(frozen=True)
class Holder:
    """What issuing a challenge decides on, read at once (one round trip on PostgreSQL): the
    user's row (locked first), the running assignments, their cards (locked: lock order user,
    card, then the audit head), the temporary access rows, the two counts of `_limit`; `now`
    when they were read."""

    user: Row
    held: list[Row]
    cards: list[Row]
    temp: list[Row]
    open_count: Row | None
    recent_count: Row | None
    now: int

    def usable_cards(self, reg: Registry) -> list[Row]:
        """The user's cards that can answer, through assignments and cards the MACs vouch for,
        by serial number."""
        return _usable_cards(reg, self)


@dataclass(frozen=True)
class SentHolder:
    """The reads of a `Holder`, sent (`send_holder`); `read()` waits for them."""

    name: str
    now: int
    sent: tuple[Pending, ...]

    def read(self, reg: Registry) -> Holder:
        """The rows, MACs checked; NotFoundError when there is no such user."""
        user, held, cards, temp, open_count, recent_count = self.sent
        urow = user.one()
        if urow is None:
            raise NotFoundError(f"no user {self.name} in the registry")
        return Holder(user=reg.checked("users", urow),
                      held=reg.checked_all("assignments", held.all()),
                      cards=cards.all(), temp=reg.checked_all("temp_access", temp.all()),
                      open_count=open_count.one(), recent_count=recent_count.one(),
                      now=self.now)


def send_holder(reg: Registry, user: str, now: int) -> SentHolder:
    """Send the reads issuing a challenge for `user` decides on (in a transaction; pipelined,
    they go with the next flush, each finding its rows from the user's name)."""
    db, pol = reg.db, reg.policy
    return SentHolder(user, now, (
        db.send("SELECT * FROM users WHERE name = ?", (user,), lock=True),
        db.send(f"SELECT * FROM assignments WHERE user_id = {_USER_ID} "  # noqa: S608
                "AND ended_at IS NULL", (user,)),
        db.send("SELECT * FROM cards WHERE id IN (SELECT card_id FROM assignments "  # noqa: S608
                f"WHERE user_id = {_USER_ID} AND ended_at IS NULL) ORDER BY id",
                (user,), lock=True),
        db.send(temporary.VALID_ROWS.format(user=_USER_ID), (user, now)),
        db.send("SELECT COUNT(*) AS n, MIN(expires_at) AS first FROM challenges "  # noqa: S608
                f"WHERE user_id = {_USER_ID} AND issued_at > ? AND used_at IS NULL "
                "AND expires_at > ?", (user, now - 2 * 3600, now)),
        db.send("SELECT COUNT(*) AS n FROM challenges "  # noqa: S608
                f"WHERE user_id = {_USER_ID} AND issued_at > ?",
                (user, now - pol.challenge_rate_window))))


def _usable_cards(reg: Registry, holder: Holder) -> list[Row]:
    """The user's cards that can answer, through assignments and cards the MACs vouch for."""
    by_id = {int(c["id"]): c for c in holder.cards}
    cards = []
    for a in holder.held:
        card = by_id.get(int(a["card_id"]))
        if card is None:
            raise NotFoundError(f"no card with id {a['card_id']} in the registry")
        cards.append(reg.checked("cards", card))
    return sorted((c for c in cards if c["status"] in lifecycle.USABLE),
                  key=lambda c: str(c["serial_number"]))


def _choose_card(reg: Registry, holder: Holder, serial_number: str | None) -> Row | None:
    user = holder.user
    cards = _usable_cards(reg, holder)
    if serial_number is not None:
        for card in cards:
            if card["serial_number"] == serial_number:
                return card
        raise UserStateError(f"{user['name']} holds no usable card {serial_number}")
    if len(cards) > 1:
        names = ", ".join(c["serial_number"] for c in cards)
        raise UserStateError(f"{user['name']} holds several cards ({names}): name one",
                             field="card_choice")
    return cards[0] if cards else None


def _limit(reg: Registry, holder: Holder, now: int) -> ChallengeLimitError | None:
    """Refuse a new challenge when the user has too many open or was issued too many lately."""
    pol, urow = reg.policy, holder.user
    row = holder.open_count
    if row is not None and int(row["n"]) >= pol.max_open_challenges:
        return ChallengeLimitError(
            f"{urow['name']} has {row['n']} unanswered challenges (at most "
            f"{pol.max_open_challenges}): answer one or wait until one expires",
            reason="too many open", retry_after=int(row["first"]) - now)
    since = now - pol.challenge_rate_window
    row = holder.recent_count
    if row is not None and int(row["n"]) >= pol.challenge_rate:
        oldest = reg.db.one("SELECT issued_at FROM challenges WHERE user_id = ? AND "
                            "issued_at > ? ORDER BY issued_at DESC LIMIT 1 OFFSET ?",
                            (urow["id"], since, pol.challenge_rate - 1))
        assert oldest is not None
        return ChallengeLimitError(
            f"{urow['name']} was issued {row['n']} challenges in the last "
            f"{pol.challenge_rate_window} s (at most {pol.challenge_rate}): wait",
            reason="rate limited",
            retry_after=int(oldest["issued_at"]) + pol.challenge_rate_window - now)
    return None


def next_card_challenge(reg: Registry, card: Row) -> str:
    """The card's next never-issued challenge; counts it in the card's row (locked by caller)."""
    info = ocra_check.suite_info(card["suite"])
    seed = reg.unseal(card["seed_enc"], "cards", "seed_enc", card["serial_number"])
    perm = fpe.DigitPermutation(
        fpe.challenge_key(seed, card["serial_number"], int(card["challenge_gen"])),
        info.challenge_len)
    issued = int(card["challenges_issued"])
    if issued >= perm.size:
        raise ChallengeLimitError(
            f"card {card['serial_number']} has been issued all {perm.size} challenges its seed "
            f"allows (a challenge is never issued twice): give it a new seed — provision it "
            f"again, or replace it", reason="exhausted")
    value = perm.challenge(issued)
    # Only an older copy of the card's row put back (its count with it) finds the challenge
    # issued already: the MAC cannot see that, the challenges kept for a day can. Pipelined,
    # the check goes with the writes (before the new challenge's insert) and its refusal
    # rolls them back.
    reg.db.send_absent("SELECT id FROM challenges WHERE card_id = ? AND challenge = ?",
                       (card["id"], value),
                       TamperedRowError("cards", f"id={card['id']} ({card['serial_number']}): "
                                                 f"its challenge count was put back"))
    reg.update("cards", card, challenges_issued=issued + 1)
    return value


def _grid_cells(reg: Registry, rows: list[Row]) -> tuple[bool, str | None]:
    """(a security code card runs, the cells to ask): None when its cells are used up."""
    grids = [r for r in rows if r["kind"] == "grid"]
    if not grids:
        return False, None
    return True, temporary.new_cells(temporary.seen_mask(grids[-1]), reg.random)


def issue_challenge(reg: Registry, user: str, serial_number: str | None = None, *,
                    holder: Holder | None = None) -> Challenge:
    """A challenge for the user's card (never one issued before under its seed), or for
    temporary access; single use. ChallengeLimitError (logged) when limits say no.

    `holder`: the user's rows read already in the caller's transaction (`send_holder`)."""
    return retrying(reg.db, lambda: _issue_challenge(reg, user, serial_number, holder))


def _issue_challenge(reg: Registry, user: str, serial_number: str | None,
                     holder: Holder | None) -> Challenge:
    refused: ChallengeLimitError | None = None
    # pipelined: the reads in one flush; the writes (the check that the card's next challenge
    # is new, the card's count, the old challenges' removal, the new one with its MAC, a
    # refusal's audit entry) and COMMIT in the other, not waited for one by one
    with reg.db.transaction(pipeline=True):
        if holder is None:
            holder = send_holder(reg, user, reg.now()).read(reg)
        now, urow, temp = holder.now, holder.user, holder.temp
        card = _choose_card(reg, holder, serial_number)
        if card is None and not temp:
            raise UserStateError(f"{user} has no active card and no temporary access")
        grid, cells = _grid_cells(reg, temp)
        if grid and cells is None and card is None and \
                not any(r["kind"] == "passcode" for r in temp):
            raise UserStateError(f"the security code card of {user} has revealed every cell: "
                                 f"issue a new one (`dsc security-card {user}`)")
        refused = _limit(reg, holder, now)
        digits = ""
        if refused is None and card is not None:  # its row is locked, as it stands
            try:
                digits = next_card_challenge(reg, card)
            except ChallengeLimitError as e:
                refused = e
        if refused is not None:
            reg.log("challenge", "refused", user=user,
                    serial_number=card["serial_number"] if card else None,
                    detail={"reason": refused.reason})
        else:
            if card is None:  # temporary access only: the digits carry no secret
                digits = "".join(reg.random.choice("0123456789") for _ in range(6))
            cid = reg.random.randbytes(8).hex()
            expires = now + reg.policy.challenge_ttl
            reg.db.execute("DELETE FROM challenges WHERE expires_at < ?", (now - DAY,))
            reg.insert("challenges", whole=True, id=cid, user_id=urow["id"],
                       card_id=card["id"] if card else None, challenge=digits, cells=cells,
                       issued_at=now, expires_at=expires)
    if refused is not None:
        raise refused
    return Challenge(id=cid, challenge=digits, expires_at=expires, user=user,
                     serial_number=card["serial_number"] if card else None, cells=cells)


# --- what can be typed --------------------------------------------------------------------------
Form = tuple[str, int]  # ("digits", n) or ("passcode", n)


def _forms(card: Row | None, temp: list[Row], ch: Row, *, temporary_too: bool) -> list[Form]:
    """What may be typed for this challenge; [] when nothing can log in anyway (the check
    then says "no active card" whatever was typed)."""
    forms: list[Form] = []
    card_ok = card is not None and card["status"] in (lifecycle.ASSIGNED, lifecycle.ACTIVE)
    if temporary_too and not card_ok and not temp:
        return forms
    if card is not None and card["status"] in lifecycle.USABLE:
        forms.append(("digits", ocra_check.suite_info(card["suite"]).response_digits))
    if temporary_too:
        if ch["cells"] and any(r["kind"] == "grid" for r in temp):
            forms.append(("digits", 2 * temporary.CODE_DIGITS))
        if any(r["kind"] == "passcode" for r in temp):
            forms.append(("passcode", temporary.PASSCODE_LEN))
    return forms


def normalise(response: str, forms: list[Form]) -> str:
    """What the holder typed, as the check compares it: spaces and dashes (the card shows
    `0918 7865`) removed. MalformedResponseError when it fits none of `forms`."""
    text = response.strip().replace(" ", "").replace("-", "")
    for kind, length in forms:
        if len(text) != length:
            continue
        if kind == "digits" and text.isascii() and text.isdigit():
            return text
        if kind == "passcode" and all(c in temporary.PASSCODE_ALPHABET for c in text):
            return text
    expected = tuple(f"{n} digits" if kind == "digits" else
                     f"a {n}-character temporary passcode (upper case: it is case-sensitive)"
                     for kind, n in dict.fromkeys(forms))
    raise MalformedResponseError(
        "that cannot be a response here: expected " + " or ".join(expected) +
        " (spaces and dashes are fine); nothing was counted, the challenge is still open",
        expected=expected)


# --- the shared attempt -------------------------------------------------------------------------
Check = Callable[[Registry, Row, Row, Row | None, list[Row], str], Outcome | None]


# The rows an attempt decides on, all sent at once (one round trip on PostgreSQL, pipelined),
# each found from the user's name and the challenge id: the user's row, locked first (lock
# order: user, card, then the audit head), the challenge's card (locked), the challenge, the
# user's assignment of that card and the temporary access rows. Every statement after the user's
# row starts when its lock is held, so it sees what the previous holder committed.
_CARD = ("SELECT * FROM cards WHERE id = (SELECT card_id FROM challenges WHERE id = ? AND "  # noqa: S608
         f"user_id = {_USER_ID})")
_CHALLENGE = f"SELECT * FROM challenges WHERE id = ? AND user_id = {_USER_ID}"  # noqa: S608
_HELD = ("SELECT a.* FROM assignments a JOIN challenges ch ON ch.card_id = a.card_id "  # noqa: S608
         f"AND ch.user_id = a.user_id WHERE ch.id = ? AND a.user_id = {_USER_ID} "
         "AND a.ended_at IS NULL")


@dataclass(frozen=True)
class _Rows:
    user: Row
    challenge: Row | None
    card: Row | None       # the challenge's card, when it names one
    held: Row | None       # the user's running assignment of that card
    temp: list[Row]        # running temporary access (when the attempt may use it)


# The same reads found from the challenge alone (its user's id in the challenge's row): what a
# caller that knows only the challenge id sends before it has waited for anything.
_USER_OF = "(SELECT user_id FROM challenges WHERE id = ?)"
_BY_CHALLENGE = (
    f"SELECT * FROM users WHERE id = {_USER_OF}",  # noqa: S608
    "SELECT * FROM cards WHERE id = (SELECT card_id FROM challenges WHERE id = ?)",
    "SELECT * FROM challenges WHERE id = ?",
    "SELECT a.* FROM assignments a JOIN challenges ch ON ch.card_id = a.card_id "
    "AND ch.user_id = a.user_id WHERE ch.id = ? AND a.ended_at IS NULL",
    temporary.VALID_ROWS.format(user=_USER_OF))


@dataclass(frozen=True)
class SentReads:
    """An attempt's reads sent ahead (`send_reads`), in the transaction numbered `serial`."""

    serial: int
    challenge_id: str
    sent: tuple[Pending, ...]


def send_reads(reg: Registry, challenge_id: str) -> SentReads:
    """Send the reads of a verification of `challenge_id` (its user's row locked first, then
    its card, then the audit head), found from the challenge alone; `verify(..., sent=)` reads
    them. Pipelined, they go with the first flush: nothing waits for the challenge's user."""
    db = reg.db
    users, cards, challenges, held, temp = _BY_CHALLENGE
    cid = (challenge_id,)
    sent = (db.send(users, cid, lock=True), db.send(cards, cid, lock=True),
            db.send(challenges, cid), db.send(held, cid),
            db.send(temp, (challenge_id, reg.now())))
    audit.reserve(db)
    return SentReads(db.serial, challenge_id, sent)


def _read(reg: Registry, user: str, challenge_id: str, *, temporary_too: bool,
          sent: SentReads | None = None) -> _Rows:
    """Send every read of the attempt (and the audit entry's number), then wait once."""
    db, pair = reg.db, (challenge_id, user)
    temp_sent: Pending | None
    if sent is not None and sent.serial == db.serial and sent.challenge_id == challenge_id:
        user_sent, card_sent, ch_sent, held_sent, temp_sent = sent.sent
        urow = user_sent.one()
        if urow is None or urow["name"] != user:  # not this user's challenge: as unknown
            urow = db.one("SELECT * FROM users WHERE name = ?", (user,), lock=True)
            if urow is None:
                raise NotFoundError(f"no user {user} in the registry")
            return _Rows(user=reg.checked("users", urow), challenge=None, card=None, held=None,
                         temp=[])
    else:
        user_sent = db.send("SELECT * FROM users WHERE name = ?", (user,), lock=True)
        card_sent = db.send(_CARD, pair, lock=True)
        ch_sent = db.send(_CHALLENGE, pair)
        held_sent = db.send(_HELD, pair)
        temp_sent = db.send(temporary.VALID_ROWS.format(user=_USER_ID), (user, reg.now())) \
            if temporary_too else None
        audit.reserve(db)
        urow = user_sent.one()
        if urow is None:
            raise NotFoundError(f"no user {user} in the registry")
    temp = reg.checked_all("temp_access", temp_sent.all()) \
        if temporary_too and temp_sent is not None else []
    return _Rows(user=reg.checked("users", urow), challenge=ch_sent.one(),
                 card=card_sent.one(), held=held_sent.one(), temp=temp)


def _open(reg: Registry, rows: _Rows) -> tuple[Row | None, Outcome | None]:
    """Lock and single-use checks: (challenge, None) to go on, (None, rejection) to stop."""
    now, urow = reg.now(), rows.user
    name = urow["name"]
    if urow["locked_until"] is not None and int(urow["locked_until"]) > now:
        return None, Outcome(False, name, Reason.LOCKED, locked_until=int(urow["locked_until"]))
    if rows.challenge is None:
        return None, Outcome(False, name, Reason.UNKNOWN_CHALLENGE)
    ch = reg.checked("challenges", rows.challenge)
    if ch["used_at"] is not None:
        return None, Outcome(False, name, Reason.ALREADY_USED)
    if int(ch["expires_at"]) <= now:
        reg.update("challenges", ch, used_at=now)
        return None, Outcome(False, name, Reason.EXPIRED)
    return ch, None


def _challenge_card(reg: Registry, rows: _Rows, ch: Row) -> Row | None:
    """The challenge's card, when the MACs vouch for it and it is still the user's."""
    if ch["card_id"] is None:
        return None
    if rows.card is None:
        raise NotFoundError(f"no card with id {ch['card_id']} in the registry")
    card = reg.checked("cards", rows.card)
    if rows.held is None:
        return None
    reg.checked("assignments", rows.held)
    return support.auto_activate(reg, card)


def _count_failure(reg: Registry, urow: Row) -> Outcome:
    """One more failure; the one that puts `max_failures` inside the window locks the user.

    Read-modify-write is exact: the caller holds the user's row lock for the transaction."""
    now, pol = reg.now(), reg.policy
    times = [*support.recent_failures(urow, now, pol.failure_window), now]
    if len(times) < pol.max_failures:
        reg.update("users", urow, failures=len(times), failures_since=times[0],
                   failure_times=" ".join(map(str, times)))
        return Outcome(False, urow["name"], Reason.WRONG,
                       attempts_remaining=pol.max_failures - len(times))
    until = now + pol.lock_seconds
    reg.update("users", urow, locked_until=until, failures=0, failures_since=None,
               failure_times=None)
    reg.log("lock", "locked", user=urow["name"],
            detail={"failures": len(times), "since": times[0], "until": until})
    return Outcome(False, urow["name"], Reason.WRONG, attempts_remaining=0, locked_until=until)


def _attempt(reg: Registry, user: str, challenge_id: str, response: str, action: str,
             check: Check, *, temporary_too: bool = False,
             sent: SentReads | None = None) -> Outcome:
    """One transaction: on PostgreSQL pipelined, so two round trips — every read (with BEGIN),
    then every write (with COMMIT). A write that finds its row changed since the read fails
    the transaction (WriteConflict: rolled back, nothing changed); it is repeated on fresh
    rows."""
    return retrying(reg.db, lambda: _attempt_once(reg, user, challenge_id, response, action,
                                                  check, temporary_too=temporary_too,
                                                  sent=sent))


def _attempt_once(reg: Registry, user: str, challenge_id: str, response: str, action: str,
                  check: Check, *, temporary_too: bool, sent: SentReads | None) -> Outcome:
    with reg.db.transaction(pipeline=True):
        rows = _read(reg, user, challenge_id, temporary_too=temporary_too, sent=sent)
        urow = rows.user
        ch, outcome = _open(reg, rows)
        if ch is not None:
            card = _challenge_card(reg, rows, ch)
            temp = rows.temp
            forms = _forms(card, temp, ch, temporary_too=temporary_too)
            # Malformed: raised before anything is written, so nothing is used or counted.
            typed = normalise(response, forms) if forms else response.strip()
            ch = reg.update("challenges", ch, used_at=reg.now())
            outcome = check(reg, urow, ch, card, temp, typed)
            if outcome is None:
                outcome = _count_failure(reg, urow)
            if outcome.serial_number is None and card is not None:
                outcome = replace(outcome, serial_number=card["serial_number"])
            if outcome.accepted and (urow["failures"] or urow["failure_times"]):
                reg.update("users", urow, failures=0, failures_since=None, failure_times=None)
            device = DEVICE_TYPES.get(outcome.method or ("card" if card is not None else ""))
            outcome = replace(outcome, device_type=device)
        assert outcome is not None
        detail = {k: v for k, v in (("reason", outcome.reason), ("method", outcome.method),
                                    ("access", outcome.access), ("challenge", challenge_id),
                                    ("attempts_remaining", outcome.attempts_remaining))
                  if v is not None}
        reg.log(action, "accepted" if outcome.accepted else "rejected",
                serial_number=outcome.serial_number, user=user, detail=detail)
    return outcome


def _pin_of(reg: Registry, urow: Row) -> bytes | None:
    if urow["pin_enc"] is None:
        return None
    return reg.unseal(urow["pin_enc"], "users", "pin_enc", urow["name"])


def _ocra_ok(reg: Registry, card: Row, ch: Row, material: bytes | None, response: str) -> bool:
    info = ocra_check.suite_info(card["suite"])
    if info.pin_hash and material is None:
        return False
    seed = reg.unseal(card["seed_enc"], "cards", "seed_enc", card["serial_number"])
    matched = ocra_check.match(info, seed, ch["challenge"], material, response,
                               counter=int(card["counter"]), now=reg.now(),
                               since=int(ch["issued_at"]))
    if matched is None:
        return False
    if info.counter:
        reg.update("cards", card, counter=matched + 1)
    return True


# --- the commands -------------------------------------------------------------------------------
def verify(reg: Registry, user: str, challenge_id: str, response: str, *,
           sent: SentReads | None = None) -> Outcome:
    """Accept a card response, or a temporary passcode / security-card code in its place.

    MalformedResponseError (nothing counted or used) when `response` cannot be one. `sent`:
    its reads, sent already in the caller's transaction (`send_reads`)."""

    def check(reg: Registry, urow: Row, ch: Row, card: Row | None, temp: list[Row],
              response: str) -> Outcome | None:
        name = urow["name"]
        now = reg.now()
        card_ok = card is not None and card["status"] in (lifecycle.ASSIGNED, lifecycle.ACTIVE)
        if not card_ok and not temp:
            return Outcome(False, name, Reason.NO_ACTIVE_CARD,
                           serial_number=card["serial_number"] if card else None)
        if card_ok and card is not None and _ocra_ok(reg, card, ch, _pin_of(reg, urow), response):
            if card["status"] == lifecycle.ASSIGNED:  # the first correct response activates
                # (ends the temporary access standing in for it, a replacement's say)
                support.activate(reg, card["serial_number"], reason="first response")
            return Outcome(True, name, method="card", access="full",
                           serial_number=card["serial_number"])
        found = temporary.match(reg, temp, ch, response, now)
        if found:
            method, access = found
            return Outcome(True, name, method=method, access=access)
        if card is not None and card["status"] == lifecycle.UNAVAILABLE and \
                _ocra_ok(reg, card, ch, _pin_of(reg, urow), response):
            # The holder has the card back: not a failure, but login goes through reactivation.
            return Outcome(False, name, Reason.NO_ACTIVE_CARD, serial_number=card["serial_number"],
                           hint=f"card {card['serial_number']} is unavailable while temporary "
                                f"access runs: take a new challenge and end that with "
                                f"`dsc reactivate`")
        return None

    return _attempt(reg, user, challenge_id, response, "verify", check, temporary_too=True,
                    sent=sent)


def change_pin(reg: Registry, user: str, challenge_id: str, response: str, new_pin: str) -> None:
    """Store `new_pin` only when the card's response, computed with it, matches."""
    if not (new_pin.isascii() and new_pin.isdigit()):
        raise InvalidInputError("the new PIN must be digits only")
    material = ocra_check.pin_material(new_pin)

    def check(reg: Registry, urow: Row, ch: Row, card: Row | None, temp: list[Row],
              response: str) -> Outcome | None:
        card = _require(card, lifecycle.ACTIVE, urow["name"], "change the PIN")
        ocra_check.check_pin(new_pin, int(card["pin_len"]))
        if not _ocra_ok(reg, card, ch, material, response):
            return None
        sealed = reg.seal(material, "users", "pin_enc", urow["name"])
        reg.update("users", urow, pin_enc=sealed)
        return Outcome(True, urow["name"], method="card", access="full",
                       serial_number=card["serial_number"])

    _raise_unless(_attempt(reg, user, challenge_id, response, "change-pin", check))


def reactivate(reg: Registry, user: str, challenge_id: str, response: str) -> str:
    """A correct response from the unavailable card makes it active and ends temporary access."""

    def check(reg: Registry, urow: Row, ch: Row, card: Row | None, temp: list[Row],
              response: str) -> Outcome | None:
        card = _require(card, lifecycle.UNAVAILABLE, urow["name"], "reactivate")
        if not _ocra_ok(reg, card, ch, _pin_of(reg, urow), response):
            return None
        reg.set_status(card, "reactivate")
        temporary.end_for_card(reg, card["id"], "card reactivated")
        return Outcome(True, urow["name"], method="card", access="full",
                       serial_number=card["serial_number"])

    outcome = _attempt(reg, user, challenge_id, response, "reactivate", check)
    _raise_unless(outcome)
    assert outcome.serial_number is not None
    return outcome.serial_number


def _require(card: Row | None, status: str, user: str, what: str) -> Row:
    """Refuse (rolling the attempt back: nothing changes) when the card is in the wrong state."""
    if card is None:
        raise UserStateError(f"cannot {what}: the challenge names no card of {user}")
    if card["status"] != status:
        raise CardStateError(f"cannot {what} with card {card['serial_number']}: it is "
                             f"{card['status']} ({lifecycle.describe(card['status'])})",
                             serial_number=card["serial_number"], status=card["status"])
    return card


def _raise_unless(outcome: Outcome) -> None:
    if not outcome.accepted:
        raise VerificationRejected(outcome.describe(), reason=outcome.reason or Reason.WRONG,
                                   attempts_remaining=outcome.attempts_remaining)
