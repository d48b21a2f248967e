"""Challenges that never repeat: a keyed permutation of the challenge space.

A card's n-th challenge is `P(n)` written with q digits, where P is a permutation of
[0, 10^q) keyed per card and seed, and n counts up from 0 in the card's (MACed) row. Distinct
n give distinct challenges, so no value comes back until all 10^q were issued; the card must
then be given a new seed (a new permutation, n back to 0). The values still look random to
whoever lacks the key: the next challenge cannot be predicted from the previous ones.

P is an alternating Feistel network over the two halves of the digit string (as in NIST
SP 800-38G FF1, without its tweak and encoding): x = L·10^h + R, each round maps
(L, R) to (R, (L + F_i(R)) mod |L's half|), with F_i an HMAC-SHA256 of the round number and R.
Every round is invertible whatever F is, so P is a permutation by construction; eight rounds
(an even number) put the halves back in their places. No cycle walking is needed: the two halves
multiply to exactly 10^q.
"""

from __future__ import annotations

import hmac

ROUNDS = 8
_CACHE_LIMIT = 10_000  # halves up to this size keep their round values (a full-domain walk)


def challenge_key(seed: bytes, serial_number: str, generation: int) -> bytes:
    """The permutation key of one card and seed: derived from the seed (so it changes with it,
    survives master-key rotation, and is never stored), bound to the serial and generation."""
    label = f"OpenDSC challenge permutation|{serial_number}|{generation}".encode()
    return hmac.digest(seed, label, "sha256")


class DigitPermutation:
    """A keyed permutation of the integers [0, 10^digits)."""

    def __init__(self, key: bytes, digits: int) -> None:
        if not 1 <= digits <= 64:
            raise ValueError("digits must be 1 to 64")
        self.key = key
        self.digits = digits
        self.size: int = 10 ** digits
        self._left: int = 10 ** (digits // 2)
        self._right: int = 10 ** (digits - digits // 2)
        self._cache: dict[tuple[int, int], int] | None = (
            {} if max(self._left, self._right) <= _CACHE_LIMIT else None)

    def _round(self, i: int, x: int, modulus: int) -> int:
        cache = self._cache
        if cache is not None:
            hit = cache.get((i, x))
            if hit is not None:
                return hit % modulus
        mac = hmac.digest(self.key, bytes((i,)) + x.to_bytes(32, "big"), "sha256")
        value = int.from_bytes(mac[:16], "big")  # 128 bits: the bias mod 10^32 is negligible
        if cache is not None:
            cache[(i, x)] = value
        return value % modulus

    def encrypt(self, n: int) -> int:
        if not 0 <= n < self.size:
            raise ValueError(f"index {n} outside the challenge space of {self.size}")
        left, right = divmod(n, self._right)
        m_left, m_right = self._left, self._right
        for i in range(ROUNDS):
            left, right = right, (left + self._round(i, right, m_left)) % m_left
            m_left, m_right = m_right, m_left
        return left * self._right + right

    def decrypt(self, c: int) -> int:
        if not 0 <= c < self.size:
            raise ValueError(f"value {c} outside the challenge space of {self.size}")
        left, right = divmod(c, self._right)
        m_left, m_right = self._left, self._right
        for i in reversed(range(ROUNDS)):
            # undo (L, R) -> (R, (L + F(R)) mod mL): the moduli swap back first
            m_left, m_right = m_right, m_left
            left, right = (right - self._round(i, left, m_left)) % m_left, left
        return left * self._right + right

    def challenge(self, n: int) -> str:
        """The n-th challenge as the card holder types it (leading zeros kept)."""
        return str(self.encrypt(n)).zfill(self.digits)
