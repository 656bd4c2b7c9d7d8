"""Fixtures of the API tests: ``client`` speaks HTTP to the module's ``app`` fixture in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.unit.api.asgi import asgi_client


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c
