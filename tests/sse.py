"""A small SSE reader for tests: (event, data) pairs from a real streaming response."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx


async def sse_messages(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """Yield (event name, decoded data) for each message; comments are skipped."""
    event, data = "message", []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
