"""Sealing credentials for storage: AES-256-GCM with a key derived from the bot token.

Why the bot token: it is the one secret every telebot install already has and must keep, so a
copied database (a backup, a shared disk) is useless without ``config.env`` too; and a bot whose
token changed can no longer read old credentials, which then fail loudly (:class:`Unsealable`)
instead of being used by the wrong bot.

Envelope: ``"tbs1:" + base64url(nonce ‖ ciphertext ‖ tag)``. The prefix names the format
version, so a later format can be told apart and migrated. The nonce is 96 random bits per
value (NIST SP 800-38D §8.2.2: random nonces are safe far beyond the number of tasks a bot
runs). Callers bind a value to its row with ``context`` (AES-GCM associated data), so a
sealed value copied into another row does not open.

The cipher (and ``cryptography``, ~15 ms to import) is made on the first seal or open, not with
the box: the bot makes its box at start-up, and most starts have nothing sealed to read.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from telebot.errors import TelebotError
from telebot.lazy import Lazy

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION_PREFIX = "tbs1:"
NONCE_BYTES = 12  # 96 bits: the nonce size GCM is specified for (SP 800-38D §5.2.1.1)
KEY_BYTES = 32  # AES-256
# HKDF salt and info name the purpose, so the same token never yields this key elsewhere.
_SALT = b"telebot/journal-credentials/v1"
_INFO = b"AES-256-GCM key for task credentials in the telebot journal"


class Unsealable(TelebotError):
    """A sealed value that cannot be opened: another key (the token changed) or damage."""


class SecretBox:
    """Seals and opens short strings. Immutable and thread-safe."""

    def __init__(self, key: bytes | Callable[[], bytes]) -> None:
        """``key``: the 256-bit key, or what makes it on first use (:meth:`from_token`)."""
        if isinstance(key, bytes):
            _check_length(key)
        make = key if callable(key) else lambda: key
        self._aead: Lazy[AESGCM] = Lazy(lambda: _cipher(make()))

    @classmethod
    def from_token(cls, token: str) -> SecretBox:
        """The box of one bot: HKDF-SHA256 over its token."""
        return cls(lambda: _derive(token))

    @classmethod
    def ephemeral(cls) -> SecretBox:
        """A random key: what it seals is readable by this process only."""
        return cls(os.urandom(KEY_BYTES))  # what AESGCM.generate_key does

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.get().encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return VERSION_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, envelope: str, context: str) -> str:
        """The plaintext of ``envelope``; :class:`Unsealable` when this key cannot open it."""
        if not envelope.startswith(VERSION_PREFIX):
            raise Unsealable("unknown credential format")
        aead = self._aead.get()
        from cryptography.exceptions import InvalidTag  # imported by get() already

        try:
            raw = base64.urlsafe_b64decode(envelope[len(VERSION_PREFIX) :])
            nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
            return aead.decrypt(nonce, sealed, context.encode("utf-8")).decode("utf-8")
        except (InvalidTag, ValueError) as exc:  # binascii.Error is a ValueError
            raise Unsealable("credentials cannot be decrypted") from exc


def _check_length(key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError("SecretBox needs a 256-bit key")


def _derive(token: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    kdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=_SALT, info=_INFO)
    return kdf.derive(token.encode("utf-8"))


def _cipher(key: bytes) -> AESGCM:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    _check_length(key)
    return AESGCM(key)
