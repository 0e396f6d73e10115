"""Runtime token material: `berthrt_<id>_<secret>`, 256-bit secret, SHA-256 stored.

Why a stored hash and not an HMAC of BERTH_SECRET_KEY and a nonce: a random token
with its hash in PostgreSQL is the same mechanism as API keys (one PK lookup, a
dump of the database yields nothing usable), each container's token can be revoked
on its own by marking its row, and rotating BERTH_SECRET_KEY (which re-encrypts
secrets) does not silently invalidate every running tenant's token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from controlplane.security import keys

PREFIX = "berthrt_"
ENV_NAME = "BERTH_RUNTIME_TOKEN"
ID_RE = re.compile(r"^[0-9a-f]{16}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class NewToken:
    token_id: str
    token: str  # goes into the container's env only, never stored or logged
    digest: str


def generate() -> NewToken:
    token_id, token = keys.mint(PREFIX)
    return NewToken(token_id=token_id, token=token, digest=keys.digest(token))


def is_runtime_token(token: str) -> bool:
    return token.startswith(PREFIX)


def token_id_of(token: str) -> str | None:
    """The id of a well-formed runtime token, or None (no database lookup needed)."""
    if not is_runtime_token(token):
        return None
    token_id, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or not ID_RE.fullmatch(token_id) or not _SECRET_RE.fullmatch(secret):
        return None
    return token_id


def matches(token: str, stored_digest: str) -> bool:
    """Whether `token` hashes to `stored_digest` (constant-time compare)."""
    return keys.matches(token, stored_digest)
