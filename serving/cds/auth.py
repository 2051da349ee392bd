"""CDS Hooks 2.0 client authentication: a signed JWT in `Authorization: Bearer <jwt>` on every call.

Why it looks like this (cds-hooks.hl7.org/2.0, "Trusting CDS Clients"):

* Only asymmetric signatures: ES384 and RS384 (the two the spec names). `none` and HMAC are
  refused before any key is looked at: with HMAC a public key would become a shared secret.
* Trusted clients come only from the file `DOSEWISE_CDS_TRUSTED_CLIENTS`, one JWKS per issuer
  (`{"<iss>": {"keys": [<JWK>, ...]}}`). A `jku` or `x5u` in the token is ignored: keys are never
  fetched from a URL the caller names (that would let anyone sign for themselves).
* Required: header `kid` (picks the key of that issuer; a JWK that names its own `alg` must match),
  claims `iss`, `aud`, `exp`, `iat`, `jti`. `aud` must be the exact URL called, built from
  `DOSEWISE_PUBLIC_BASE_URL` + the request path (TLS ends at a proxy, so the Host header is not
  trusted). A token may live at most `MAX_LIFETIME_S` (the spec: "no more than 5 minutes").
* 60 s clock leeway on `exp`, `iat` and `nbf`.
* Replay: a `jti` is accepted once per issuer within its lifetime. A per-process set answers first;
  a row in the audit database (`cds_jti`, unique on issuer and jti) makes it hold across the
  server's workers (serving/cds/store.py).
* Every failure is the same 401 `{"error": "unauthorized"}`; the reason is logged (no token, no
  claims), never sent.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWK, PyJWKSet

log = logging.getLogger("dosewise.cds.auth")

ALLOWED_ALGORITHMS = ("ES384", "RS384")
LEEWAY_S = 60
MAX_LIFETIME_S = 300
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")


class AuthError(Exception):
    """The call is not authenticated; `reason` is for the log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Caller:
    """Who called: the issuer (the EHR), its tenant when it sent one, and the token's id."""

    iss: str
    tenant: str | None
    jti: str
    exp: int


class TrustedClients:
    """Issuer -> its keys by `kid`, read once from the trusted-clients file."""

    def __init__(self, keys: dict[str, dict[str, PyJWK]]) -> None:
        self._keys = keys

    @classmethod
    def load(cls, path: Path | None) -> TrustedClients:
        """Read the file; a missing or malformed file trusts nobody (logged, never raised)."""
        if path is None:
            return cls({})
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            log.error(
                "CDS trusted-clients file unreadable (%s): no client trusted", type(exc).__name__
            )
            return cls({})
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> TrustedClients:
        """Parse `{"<iss>": {"keys": [...]}}`, skipping keys that are not public EC/RSA keys."""
        out: dict[str, dict[str, PyJWK]] = {}
        if not isinstance(data, dict):
            log.error("CDS trusted-clients file is not a JSON object: no client trusted")
            return cls({})
        for iss, jwks in data.items():
            if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
                log.error("CDS trusted client %r has no JWKS: skipped", iss)
                continue
            keys: dict[str, PyJWK] = {}
            for jwk in jwks["keys"]:
                if not isinstance(jwk, dict) or jwk.get("kty") not in ("EC", "RSA"):
                    continue  # `oct` (a shared secret) is never a client key
                if "d" in jwk:
                    log.warning("CDS trusted client %r lists a private key: skipped", iss)
                    continue
                kid = jwk.get("kid")
                try:
                    keys[str(kid)] = PyJWKSet.from_dict({"keys": [jwk]}).keys[0]
                except jwt.PyJWTError:
                    log.warning("CDS trusted client %r: unusable key skipped", iss)
            if keys:
                out[str(iss)] = keys
        return cls(out)

    def key(self, iss: str, kid: str) -> PyJWK | None:
        return self._keys.get(iss, {}).get(kid)

    def __len__(self) -> int:
        return len(self._keys)


class ReplayGuard:
    """Per-process memory of accepted `jti`s until they expire (the first, cheap check)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def claim(self, iss: str, jti: str, exp: float, now: float | None = None) -> bool:
        """True the first time (iss, jti) is seen before it expires; False for a replay."""
        now = time.time() if now is None else now
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if v + LEEWAY_S > now}
            seen = self._seen.get((iss, jti))
            if seen is not None and seen + LEEWAY_S > now:
                return False
            self._seen[(iss, jti)] = exp
            return True


def verify_token(
    authorization: str | None,
    audience: str,
    clients: TrustedClients,
    now: float | None = None,
) -> Caller:
    """The caller of a request whose `Authorization` header carries a valid client JWT.

    Raises AuthError for anything else. Replay is checked by the caller (`ReplayGuard`, store).
    """
    if not authorization:
        raise AuthError("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("not a bearer token")
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AuthError("malformed token") from None
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise AuthError("algorithm not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthError("no kid")
    iss = unverified.get("iss")
    if not isinstance(iss, str) or not iss:
        raise AuthError("no iss")
    key = clients.key(iss, kid)
    if key is None:
        raise AuthError("unknown issuer or key")
    if key._jwk_data.get("alg") not in (None, alg):  # the wrong key type fails in decode
        raise AuthError("key is for another algorithm")
    try:
        claims = jwt.decode(
            token,
            key=key.key,
            algorithms=[alg],
            audience=audience,
            issuer=iss,
            leeway=LEEWAY_S,
            options={"require": list(REQUIRED_CLAIMS), "verify_iat": True},
        )
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token ({type(exc).__name__})") from None
    now = time.time() if now is None else now
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise AuthError("exp/iat not numbers")
    if exp - now > MAX_LIFETIME_S + LEEWAY_S or exp - iat > MAX_LIFETIME_S + LEEWAY_S:
        raise AuthError("token lives too long")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise AuthError("bad jti")
    tenant = claims.get("tenant")
    tenant = tenant if isinstance(tenant, str) and 0 < len(tenant) <= 255 else None
    return Caller(iss=iss, tenant=tenant, jti=jti, exp=int(exp))
