"""Pulumi's passphrase secrets provider, offline: open a stack's `encryptionsalt` and
decrypt its `secure:` values without the engine.

The format, from pulumi/pulumi v3.259.0 (`pkg/secrets/passphrase/manager.go`,
`sdk/go/common/resource/config/crypt.go`):

* `encryptionsalt: v1:<base64 salt>:v1:<base64 nonce>:<base64 ciphertext>`: the 8-byte
  salt, then the word `pulumi` encrypted with the stack's key (the passphrase check);
* key = PBKDF2-HMAC-SHA256(passphrase, salt, 1,000,000 iterations, 32 bytes);
* each `secure:` value is `v1:<base64 12-byte nonce>:<base64 AES-256-GCM ciphertext+tag>`
  (no associated data).

The passphrase comes from `PULUMI_CONFIG_PASSPHRASE` (even when empty, and even when
`PULUMI_CONFIG_PASSPHRASE_FILE` is set too), else from the file
`PULUMI_CONFIG_PASSPHRASE_FILE` names (surrounding whitespace stripped), as the CLI reads
them (tests/engine/test_passphrase_cli.py checks that precedence against the CLI). The
empty passphrase is a valid key here, as in the CLI; `stacks.config.secret_checks`
refuses a stack encrypted with it. Nothing here prints a passphrase, a key or a
plaintext.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

PASSPHRASE_ENV = "PULUMI_CONFIG_PASSPHRASE"
PASSPHRASE_FILE_ENV = "PULUMI_CONFIG_PASSPHRASE_FILE"
ITERATIONS = 1_000_000
KEY_BYTES = 32
_CHECK_PLAINTEXT = "pulumi"


class PassphraseError(Exception):
    """The passphrase is unavailable, or does not open the stack's `encryptionsalt`."""


class DecryptionError(Exception):
    """A `secure:` value does not decrypt with this stack's key (or is malformed)."""


def passphrase_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The passphrase the CLI would use: `PULUMI_CONFIG_PASSPHRASE`, else the contents
    of `PULUMI_CONFIG_PASSPHRASE_FILE`; None when neither is set.

    Raises:
        PassphraseError: `PULUMI_CONFIG_PASSPHRASE_FILE` names an unreadable file.
    """
    env = os.environ if env is None else env
    if PASSPHRASE_ENV in env:
        return env[PASSPHRASE_ENV]
    path = env.get(PASSPHRASE_FILE_ENV)
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise PassphraseError(
            f"cannot read {PASSPHRASE_FILE_ENV} ({error.strerror}); fix the path or set "
            f"{PASSPHRASE_ENV}"
        ) from None


@functools.lru_cache(maxsize=32)
def derive_key(passphrase: str, salt: bytes) -> bytes:
    """The 32-byte AES key of `passphrase` and `salt` (PBKDF2, ~0.5 s; cached per pair)."""
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, iterations=ITERATIONS)
    return kdf.derive(passphrase.encode("utf-8"))


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def decrypt_value(key: bytes, ciphertext: str) -> str:
    """Decrypt one `v1:<nonce>:<ciphertext>` value with `key`.

    Raises:
        DecryptionError: malformed, or encrypted with another key (another stack).
    """
    parts = ciphertext.split(":")
    if len(parts) != 3 or parts[0] != "v1":
        raise DecryptionError("not a `v1:<nonce>:<ciphertext>` value")
    try:
        nonce, sealed = _b64(parts[1]), _b64(parts[2])
        return AESGCM(key).decrypt(nonce, sealed, None).decode("utf-8")
    except (binascii.Error, ValueError):
        raise DecryptionError("not a `v1:<nonce>:<ciphertext>` value") from None
    except InvalidTag:
        raise DecryptionError("encrypted with another key") from None


def encrypt_value(key: bytes, plaintext: str) -> str:
    """Encrypt `plaintext` as the CLI does: `v1:<base64 nonce>:<base64 ciphertext>`."""
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), None)
    return f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(sealed).decode()}"


class PassphraseCrypter:
    """The key of one stack's passphrase provider; decrypts (and encrypts) its values."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "PassphraseCrypter([key])"

    @classmethod
    def open(cls, passphrase: str, encryption_salt: str) -> PassphraseCrypter:
        """Open a stack's `encryptionsalt` with `passphrase`.

        Raises:
            PassphraseError: the salt is malformed, or the passphrase is not this stack's.
        """
        parts = encryption_salt.split(":", 2)
        if len(parts) != 3 or parts[0] != "v1":
            raise PassphraseError("encryptionsalt is not `v1:<salt>:<check value>`")
        try:
            salt = _b64(parts[1])
        except (binascii.Error, ValueError):
            raise PassphraseError("encryptionsalt is not `v1:<salt>:<check value>`") from None
        crypter = cls(derive_key(passphrase, salt))
        try:
            check = crypter.decrypt(parts[2])
        except DecryptionError:
            check = None
        if check != _CHECK_PLAINTEXT:
            raise PassphraseError("the passphrase does not open this stack's encryptionsalt")
        return crypter

    @classmethod
    def new(cls, passphrase: str) -> tuple[str, PassphraseCrypter]:
        """A fresh stack key: `(encryptionsalt, crypter)`, as `pulumi stack init` makes."""
        salt = os.urandom(8)
        crypter = cls(derive_key(passphrase, salt))
        state = f"v1:{base64.b64encode(salt).decode()}:{crypter.encrypt(_CHECK_PLAINTEXT)}"
        return state, crypter

    def decrypt(self, ciphertext: str) -> str:
        """See `decrypt_value`."""
        return decrypt_value(self._key, ciphertext)

    def encrypt(self, plaintext: str) -> str:
        """See `encrypt_value`."""
        return encrypt_value(self._key, plaintext)
