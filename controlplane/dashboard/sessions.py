"""Dashboard sign-in sessions, kept in Redis behind an opaque cookie.

The cookie holds only a random session id (never the API key). Redis keeps, under
the id's SHA-256, the key id it was opened with and the session's CSRF token, with
the session's lifetime as TTL. Every request re-reads the key's scopes, so revoking
the key ends its sessions at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from redis import Redis

COOKIE = "berth_session"
LOGIN_CSRF_COOKIE = "berth_login_csrf"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/dashboard"


@dataclass(frozen=True)
class Session:
    sid: str
    key_id: str
    csrf: str

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


def _key(sid: str) -> str:
    # Hashed, so whoever can read Redis cannot replay a session cookie from it.
    return "berth:dashboard:session:" + hashlib.sha256(sid.encode()).hexdigest()


class SessionStore:
    def __init__(self, redis: Redis[bytes], *, ttl: int) -> None:
        self.redis = redis
        self.ttl = ttl

    async def open(self, key_id: str) -> Session:
        sid = secrets.token_urlsafe(32)
        session = Session(sid=sid, key_id=key_id, csrf=secrets.token_urlsafe(32))
        payload = json.dumps({"key_id": key_id, "csrf": session.csrf})
        await asyncio.to_thread(self.redis.set, _key(sid), payload, ex=self.ttl)
        return session

    async def load(self, sid: str | None) -> Session | None:
        if not sid or len(sid) > 128:
            return None
        raw = await asyncio.to_thread(self.redis.get, _key(sid))
        if raw is None:
            return None
        data = json.loads(raw)
        return Session(sid=sid, key_id=str(data["key_id"]), csrf=str(data["csrf"]))

    async def close(self, sid: str) -> None:
        await asyncio.to_thread(self.redis.delete, _key(sid))
