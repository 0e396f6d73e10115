"""A small SSE reader for tests: (event, data) pairs from a real streaming response."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from controlplane.client.http import SseDecoder


async def sse_messages(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """Yield (event name, decoded data) for each message; comments are skipped."""
    decoder = SseDecoder()
    async for line in response.aiter_lines():
        if (message := decoder.feed(line)) is not None:
            yield message
