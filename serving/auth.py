"""API-key authentication: `Authorization: Bearer <key>`, keys held only as SHA-256 digests.

Why: a key in memory is a key in a core dump; digests are enough to check a presented key.
Every configured digest is compared with `hmac.compare_digest` (no early exit), so timing says
nothing about which key or how much of it matched. With no key configured every protected call
is refused: an unconfigured service is closed, never open.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

# Paths that answer without a key: probes, Prometheus scraping, the OpenAPI document.
PUBLIC_PATHS = frozenset({"/livez", "/readyz", "/metrics", "/docs.json"})


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def generate_key() -> str:
    """A fresh random key (256 bits, URL-safe) for local use."""
    return secrets.token_urlsafe(32)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class ApiKeys:
    """The set of accepted keys, as digests only."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = tuple(_digest(k) for k in {k.strip() for k in keys} if k)

    @property
    def configured(self) -> bool:
        return bool(self._digests)

    def __len__(self) -> int:
        return len(self._digests)

    def check(self, authorization: str | None) -> bool:
        """True if the header carries one of the configured keys."""
        token = bearer_token(authorization)
        if token is None or not self._digests:
            return False
        presented = _digest(token)
        ok = False
        for digest in self._digests:
            ok |= hmac.compare_digest(presented, digest)
        return ok
