"""A minimal HTTP/1.1 keep-alive load generator on raw asyncio streams.

httpx costs about a millisecond of client CPU per request, which on a 2-core host
caps both sides of a comparison at the client's speed. This sends pre-built request
bytes and reads just the status line, headers and Content-Length body.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit


def _request(url: str, headers: dict[str, str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    lines = [f"GET {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return parts.hostname or "127.0.0.1", parts.port or 80, raw


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def latencies(url: str, headers: dict[str, str], n: int, warmup: int = 100) -> list[float]:
    """Sequential requests on one keep-alive connection; seconds each."""
    host, port, raw = _request(url, headers)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for _ in range(warmup):
            await _one(reader, writer, raw)
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            status = await _one(reader, writer, raw)
            out.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"{url}: HTTP {status}")
        return out
    finally:
        writer.close()


async def throughput(url: str, headers: dict[str, str], connections: int, seconds: float) -> float:
    """Requests per second over `connections` keep-alive connections for `seconds`."""
    host, port, raw = _request(url, headers)
    done = 0
    deadline = time.perf_counter() + seconds

    async def conn() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                if await _one(reader, writer, raw) != 200:
                    raise RuntimeError(f"{url}: non-200")
                done += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(connections)))
    return done / (time.perf_counter() - t0)
