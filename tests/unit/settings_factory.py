"""Settings for unit tests: what the tests' ``make_settings`` copies had in common.

The API, metrics and staffing tests run on one Shanghai floor: 30-minute intervals and the
wallboard's viewer token ``wb`` (secret ``viewer-secret``); each adds its queues and the
rest of what it needs (its own ``tokens``, ``tokens=[]`` for none, another ``timezone``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from floorwatch.config import Settings

TIMEZONE = "Asia/Shanghai"
VIEWER_SECRET = "viewer-secret"

# a voice queue (SL 80 % in 20 s) and a chat queue (90 % in 30 s)
SUPPORT_AND_SALES = [
    {"id": "support", "name": "Support", "channel": "voice", "sl_threshold_s": 20, "sl_target": 0.8},
    {"id": "sales", "name": "Sales", "channel": "chat", "sl_threshold_s": 30, "sl_target": 0.9},
]


def token(name: str, secret: str, *roles: str) -> dict[str, Any]:
    """An ``auth.tokens`` entry: the SHA-256 of ``secret`` and the token's roles."""
    return {"name": name, "sha256": hashlib.sha256(secret.encode()).hexdigest(), "roles": list(roles)}


def floor_settings(*, tokens: list[dict[str, Any]] | None = None, timezone: str = TIMEZONE, **fields: Any) -> Settings:
    """Shanghai (or ``timezone``), 30-minute intervals, the viewer token ``wb`` (or ``tokens``)
    and ``fields``."""
    auth = {"tokens": tokens if tokens is not None else [token("wb", VIEWER_SECRET, "viewer")]}
    return Settings(timezone=timezone, interval_minutes=30, auth=auth, **fields)
