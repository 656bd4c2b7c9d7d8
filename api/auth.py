"""Bearer-token authentication and role checks.

Tokens are configured as the sha256 hex of the secret (``auth.tokens``); the secret itself is
never stored. A REST request presents the secret as ``Authorization: Bearer <secret>`` only;
the websocket also takes ``?token=<secret>`` (a browser cannot give it headers), and so the
wallboard page reads it from its own URL and sends it as the header on its REST calls.

Roles: ``viewer`` < ``supervisor`` < ``admin``; ``ingest`` is separate, and ``admin`` may ingest
too. Missing or unknown token -> 401 (with ``WWW-Authenticate: Bearer``); a known token without
the role -> 403.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from floorwatch.config import TokenConfig

# What each configured role grants.
IMPLIED_ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"viewer"}),
    "supervisor": frozenset({"viewer", "supervisor"}),
    "admin": frozenset({"viewer", "supervisor", "admin", "ingest"}),
    "ingest": frozenset({"ingest"}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind a valid token."""

    name: str
    roles: frozenset[str]  # effective roles, implications applied

    def has(self, role: str) -> bool:
        return role in self.roles


def effective_roles(roles: Iterable[str]) -> frozenset[str]:
    granted: set[str] = set()
    for role in roles:
        granted |= IMPLIED_ROLES.get(role, frozenset())
    return frozenset(granted)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenStore:
    """Looks a presented secret up among the configured hashes, in constant time per entry."""

    def __init__(self, tokens: Iterable[TokenConfig]) -> None:
        self._entries = [
            (t.sha256.lower().encode("ascii"), Principal(t.name, effective_roles(t.roles))) for t in tokens
        ]

    def authenticate(self, secret: str | None) -> Principal | None:
        if not secret:
            return None
        digest = hash_secret(secret).encode("ascii")
        found: Principal | None = None
        for expected, principal in self._entries:  # no early exit: same work for every secret
            if hmac.compare_digest(digest, expected) and found is None:
                found = principal
        return found
