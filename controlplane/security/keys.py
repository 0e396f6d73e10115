"""API key material: generating, parsing and hashing `berth_<id>_<secret>` keys.

The id is public (it is the primary key, and the audit log's actor); the secret
is 256 bits from `secrets.token_urlsafe(32)`. Only SHA-256 of the whole key is
stored: the key is high-entropy, so a fast hash is enough (no brute force can
get through 2**256 guesses), and lookups stay cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "berth_"
KEY_ID_RE = re.compile(r"^[0-9a-f]{16}$")
# 43 characters of URL-safe base64 = 256 bits; anything shorter is not one of ours.
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{43,128}$")


@dataclass(frozen=True)
class NewKey:
    key_id: str
    token: str  # shown to the caller once, never stored
    digest: str


def mint(prefix: str) -> tuple[str, str]:
    """A fresh public id and its `<prefix><id>_<secret>` token (64-bit id, 256-bit secret).

    API keys and runtime tokens are both minted here: the same entropy, the same SHA-256.
    """
    token_id = secrets.token_hex(8)
    return token_id, f"{prefix}{token_id}_{secrets.token_urlsafe(32)}"


def generate() -> NewKey:
    key_id, token = mint(PREFIX)
    return NewKey(key_id=key_id, token=token, digest=digest(token))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def key_id_of(token: str) -> str | None:
    """The key id of a well-formed key, or None (then no database lookup is needed)."""
    if not token.startswith(PREFIX):
        return None
    key_id, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or not KEY_ID_RE.fullmatch(key_id) or not _SECRET_RE.fullmatch(secret):
        return None
    return key_id


def matches(token: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(token).encode(), stored_digest.encode())
