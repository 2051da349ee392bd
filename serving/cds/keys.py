"""Client key pairs and tokens for CDS Hooks (the `dosewise cds-keygen` / `cds-token` commands).

An EHR registers a public key with Dosewise; Dosewise's operator adds it to the trusted-clients
file under the EHR's `iss`. For testing and for the README's curl example, these helpers make
such a key pair (ES384 or RS384) and sign a short-lived client JWT the way an EHR would.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


def generate_private_key(alg: str = "ES384") -> Any:
    """A fresh private key for `alg` (ES384: P-384; RS384: RSA 3072)."""
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "RS384":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError("alg must be ES384 or RS384")


def public_jwk(private_key: Any, kid: str, alg: str) -> dict[str, Any]:
    """The public half as a JWK with its `kid`, `alg` and `use`."""
    algo = ECAlgorithm if alg == "ES384" else RSAAlgorithm
    jwk = algo.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def private_pem(private_key: Any) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_key_pair(out_dir: Path, iss: str, kid: str, alg: str = "ES384") -> dict[str, Path]:
    """Write `<kid>.pem` (private, 0600), `<kid>.jwks.json` (public) and `trusted-clients.json`
    (`{iss: jwks}`, what DOSEWISE_CDS_TRUSTED_CLIENTS names); the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key = generate_private_key(alg)
    pem = out_dir / f"{kid}.pem"
    fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem(key))
    jwks = {"keys": [public_jwk(key, kid, alg)]}
    pub = out_dir / f"{kid}.jwks.json"
    pub.write_text(json.dumps(jwks, indent=2) + "\n")
    trusted = out_dir / "trusted-clients.json"
    trusted.write_text(json.dumps({iss: jwks}, indent=2) + "\n")
    return {"private_key": pem, "jwks": pub, "trusted_clients": trusted}


def sign_token(
    private_key: Any,
    iss: str,
    aud: str,
    kid: str,
    alg: str = "ES384",
    lifetime_s: int = 300,
    tenant: str | None = None,
    now: float | None = None,
    **extra: Any,
) -> str:
    """A client JWT as CDS Hooks 2.0 describes it (iss, sub, aud, exp, iat, jti, tenant)."""
    now = time.time() if now is None else now
    claims: dict[str, Any] = {
        "iss": iss,
        "sub": iss,
        "aud": aud,
        "iat": int(now),
        "exp": int(now) + lifetime_s,
        "jti": str(uuid.uuid4()),
    }
    if tenant is not None:
        claims["tenant"] = tenant
    claims.update(extra)
    return jwt.encode(claims, private_key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})


def load_private_key(path: Path) -> Any:
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
