"""Per-key token buckets in Redis, for signups.

The bucket lives in one Redis hash per key and is updated by a Lua script
(EVALSHA, so the script text crosses the wire once), using Redis's clock so
several API processes share one bucket. Redis being down must not stop
signups: the limiter then lets requests through, logs a warning, and does not
try Redis again for a few seconds (no connect timeout on every signup).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import redis
import structlog
from fastapi import Request

from controlplane.errors import BerthError
from controlplane.security.auth import Principal
from controlplane.settings import Settings

log = structlog.get_logger(__name__)

# KEYS[1] bucket; ARGV[1] refill rate (tokens per second), ARGV[2] burst (capacity).
# Returns {1, 0} when a token was taken, else {0, milliseconds until one is available}.
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = t
end
tokens = math.min(burst, tokens + math.max(0, t - ts) * rate)
local allowed = 0
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(t))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, wait_ms}
"""


class RateLimited(BerthError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class TokenBucketLimiter:
    """`rate_per_minute` sustained, `burst` at once, per key id."""

    def __init__(
        self,
        client: redis.Redis[bytes],
        *,
        name: str,
        rate_per_minute: float,
        burst: int,
        cooldown: float = 5.0,
    ) -> None:
        self._script = client.register_script(_TOKEN_BUCKET)
        self._name = name
        self._rate = rate_per_minute / 60.0
        self._burst = burst
        self._cooldown = cooldown
        self._skip_until = 0.0

    def _take(self, key_id: str) -> Any:
        bucket = f"berth:ratelimit:{self._name}:{key_id}"
        return self._script(keys=[bucket], args=[repr(self._rate), self._burst])

    async def check(self, key_id: str) -> None:
        """Take one token for `key_id`, or raise RateLimited (429 with Retry-After)."""
        if time.monotonic() < self._skip_until:
            return
        try:
            allowed, wait_ms = await asyncio.to_thread(self._take, key_id)
        except (redis.RedisError, OSError) as exc:
            self._skip_until = time.monotonic() + self._cooldown
            log.warning(
                "rate_limit_unavailable",
                limiter=self._name,
                error_type=type(exc).__name__,
                detail="Redis unreachable; letting requests through",
            )
            return
        if int(allowed) != 1:
            retry_after = max(1, math.ceil(int(wait_ms) / 1000))
            raise RateLimited(
                f"too many {self._name} requests for this key; retry in {retry_after}s",
                retry_after=retry_after,
            )


def signup_limiter(request: Request) -> TokenBucketLimiter:
    """The app's signup limiter, made on first use from its Redis client and settings."""
    state = request.app.state
    limiter: TokenBucketLimiter | None = getattr(state, "signup_limiter", None)
    if limiter is None:
        settings: Settings = state.settings
        limiter = TokenBucketLimiter(
            state.redis,
            name="signup",
            rate_per_minute=settings.signup_rate,
            burst=settings.signup_burst,
        )
        state.signup_limiter = limiter
    return limiter


async def limit_signups(request: Request, principal: Principal) -> None:
    """Rate-limit signups per key. Admin keys are exempt: they can mint keys anyway."""
    if "admin" in principal.scopes:
        return
    await signup_limiter(request).check(principal.key_id)
