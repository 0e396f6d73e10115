"""Encryption at rest for tenant secrets."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    """Fernet (AES-128-CBC + HMAC-SHA256) over a key from BERTH_SECRET_KEY.

    A key that is not already a Fernet key is stretched with SHA-256, so an
    operator may set any long random string.
    """

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(self._normalise(key))

    @staticmethod
    def _normalise(key: str) -> bytes:
        raw = key.encode()
        try:
            if len(base64.urlsafe_b64decode(raw)) == 32:
                return raw
        except (ValueError, TypeError):
            pass
        return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with the configured key") from exc
