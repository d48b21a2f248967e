"""Master key file and AES-GCM encryption of the registry's secrets.

The master key never enters the database. It lives in a key file (mode 0600), found by
`DSC_MASTER_KEY_FILE`, else `$XDG_CONFIG_HOME/opendsc/master.key` (`~/.config/...`). It is
deliberately *not* kept next to the SQLite file: a copy of the registry directory (a backup,
a support laptop) must not carry its own key.

Key file format, one key a line, the last line being the current key:

    # OpenDSC registry master key: keep secret, back up apart from the registry
    <key id: 8 hex digits> <key: 64 hex digits>

A sealed value is `key id (8 ASCII) || nonce (12) || AES-256-GCM ciphertext and tag`. The
associated data names the table, column and row (e.g. `cards.seed_enc:DSC00000001`), so a
ciphertext copied into another row or column fails to decrypt instead of being accepted.
The nonce is 12 bytes drawn from the sealer's `random` source, which the registry binds to its
own injectable `Registry(random=...)`: by default that is `secrets.SystemRandom` (the OS
CSPRNG), so nonces are uniformly random and, at 96 bits, repeat with negligible probability
for far more values than a registry ever seals under one key (rotation starts a new key).
GCM's security rests on never reusing a nonce under a key: a repeat discloses the XOR of the
two plaintexts and the authentication subkey, so values could be forged. A seeded
`random.Random` makes sealed bytes reproducible, which is what tests want, but two runs with
the same seed repeat the same nonces under the same key: a deterministic source is for tests
only, and nothing outside the tests passes one (the command line and the service never do). Keys
themselves always come from the OS CSPRNG, whatever the source.
Rotation appends a new key, re-encrypts every value in one transaction, then drops the old key;
a crash in between leaves a file with both keys, which still opens every row.

The same keys also authenticate values that must stay readable but must not be forged by
someone who can write the database without holding the key file (the audit log's head):
`mac()` gives `key id:HMAC-SHA256` under a key derived per purpose from the master key.
`provisioning.integrity` uses it for the rows that decide a login (one purpose per table).
"""

from __future__ import annotations

import hmac
import os
import random as _random
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from provisioning.errors import MasterKeyError

KEY_BYTES = 32
_ID_LEN = 8
_NONCE = 12
_HEADER = "# OpenDSC registry master key: keep secret, back up apart from the registry\n"


def aad(table: str, column: str, ident: str) -> str:
    """The associated data of a sealed value: where it lives and whom it serves."""
    return f"{table}.{column}:{ident}"


def temp_access_ident(uid: str, user_id: int) -> str:
    """A temporary access secret is bound to its row and to the user it lets in."""
    return f"{uid}|user={user_id}"


def default_key_file() -> Path:
    env = os.environ.get("DSC_MASTER_KEY_FILE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "opendsc" / "master.key"


def new_key() -> tuple[str, bytes]:
    return secrets.token_hex(_ID_LEN // 2), secrets.token_bytes(KEY_BYTES)


def read_key_file(path: Path) -> list[tuple[str, bytes]]:
    """The keys in file order (the last one is current). Errors name the file, never a key."""
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:  # like ssh with a private key: refuse rather than use an exposed key
            raise MasterKeyError(f"the master key file {path} can be read by others (mode "
                                 f"{mode:04o}): chmod 600 {path}, and consider whether to "
                                 f"rotate the key", reason="exposed")
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise MasterKeyError(f"no master key file {path}: initialise the registry (or set "
                             f"DSC_MASTER_KEY_FILE)", reason="no key file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise MasterKeyError(f"cannot read the master key file {path}: {e}") from None
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keys.append(_parse_line(path, number, line))
    if not keys:
        raise MasterKeyError(f"the master key file {path} holds no key")
    return keys


def _parse_line(path: Path, number: int, line: str) -> tuple[str, bytes]:
    parts = line.split()
    bad = MasterKeyError(f"the master key file {path}, line {number}: expected "
                         f"'<8 hex digit id> <64 hex digit key>'")
    if len(parts) != 2 or len(parts[0]) != _ID_LEN:
        raise bad
    try:
        int(parts[0], 16)
        key = bytes.fromhex(parts[1])
    except ValueError:
        raise bad from None
    if len(key) != KEY_BYTES:
        raise bad
    return parts[0], key


def write_key_file(path: Path, keys: list[tuple[str, bytes]]) -> None:
    """Write atomically (temporary file, then rename), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = _HEADER + "".join(f"{kid} {key.hex()}\n" for kid, key in keys)
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def create_key_file(path: Path) -> bool:
    """Create a key file with one fresh key unless one exists; True when created."""
    if path.exists():
        return False
    write_key_file(path, [new_key()])
    return True


class Sealer:
    """Encrypts and decrypts registry secrets under the keys of one key file."""

    def __init__(self, keys: list[tuple[str, bytes]], *,
                 random: _random.Random | None = None) -> None:
        if not keys:
            raise MasterKeyError("no master key")
        self._ciphers = {kid.encode("ascii"): AESGCM(key) for kid, key in keys}
        self._raw = dict(keys)
        self.key_id = keys[-1][0]
        self._current = self._ciphers[self.key_id.encode("ascii")]
        self._current_id = self.key_id.encode("ascii")
        self._mac_keys: dict[tuple[str, str], bytes] = {}
        # Where nonces come from (see the module's docstring): the OS CSPRNG unless a test
        # injects a seeded source, usually through `Registry(random=...)`.
        self.random: _random.Random = random if random is not None else secrets.SystemRandom()

    @classmethod
    def from_file(cls, path: Path, *, random: _random.Random | None = None) -> Sealer:
        return cls(read_key_file(path), random=random)

    def seal(self, plaintext: bytes, aad: str) -> bytes:
        nonce = self.random.randbytes(_NONCE)
        return self._current_id + nonce + self._current.encrypt(nonce, plaintext, aad.encode())

    def open(self, sealed: bytes, aad: str) -> bytes:
        sealed = bytes(sealed)
        cipher = self._ciphers.get(sealed[:_ID_LEN])
        if cipher is None:
            kid = sealed[:_ID_LEN].decode("ascii", "replace")
            raise MasterKeyError(f"a value in the registry is sealed under key {kid}, which the "
                                 f"master key file does not hold")
        nonce = sealed[_ID_LEN:_ID_LEN + _NONCE]
        try:
            return cipher.decrypt(nonce, sealed[_ID_LEN + _NONCE:], aad.encode())
        except InvalidTag:
            # Deliberately uninformative beyond where: the value was altered or moved.
            raise MasterKeyError(f"the sealed value {aad.split(':')[0]} of {aad.split(':', 1)[-1]} "
                                 f"failed its integrity check (altered or moved)") from None

    def key_id_of(self, sealed: bytes) -> str:
        return bytes(sealed[:_ID_LEN]).decode("ascii", "replace")

    def mac(self, data: bytes, purpose: str) -> str:
        """`<key id>:<hex HMAC-SHA256>` of `data` under the current key, for `purpose`."""
        return f"{self.key_id}:{self._mac(self.key_id, data, purpose)}"

    def mac_ok(self, value: str | None, data: bytes, purpose: str) -> bool:
        """True when `value` is a MAC of `data` under any key of the file (timing-safe)."""
        kid, _, tag = (value or "").partition(":")
        if kid not in self._raw:
            return False
        return hmac.compare_digest(self._mac(kid, data, purpose).encode(), tag.encode())

    def holds(self, kid: str) -> bool:
        return kid in self._raw

    def _mac(self, kid: str, data: bytes, purpose: str) -> str:
        # A key per purpose, derived from the master key: never the AES-GCM key itself.
        key = self._mac_keys.get((kid, purpose))
        if key is None:
            key = hmac.digest(self._raw[kid], b"OpenDSC MAC key: " + purpose.encode(), "sha256")
            self._mac_keys[(kid, purpose)] = key
        return hmac.digest(key, data, "sha256").hex()
