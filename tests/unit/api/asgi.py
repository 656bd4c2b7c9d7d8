"""In-process HTTP to an API app, and a producer that accepts every record and keeps none."""

from __future__ import annotations

from typing import Any

import httpx


def asgi_client(app: Any, host: str = "test") -> httpx.AsyncClient:
    """An HTTP client of ``app`` without a socket (``async with``), requests to ``http://{host}``."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


class NullProducer:
    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        pass

    async def flush(self) -> None:
        pass
