"""CDS client authentication (serving/cds/auth.py): what is accepted, and every way a token is
refused, as units and over the service's HTTP layer (401 with nothing that helps an attacker)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from serving.cds.auth import AuthError, ReplayGuard, TrustedClients, verify_token
from tests.cds.helpers import BASE, ISS, auth, cds_client, keys, token, trusted_clients

PATH = "/cds-services"
AUD = BASE + PATH


@pytest.fixture(scope="module")
def clients() -> TrustedClients:
    return TrustedClients.from_dict(trusted_clients())


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**kw) -> dict:
    now = int(time.time())
    return {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 120, "jti": "j-1", **kw}


def _public_pem() -> bytes:
    return (
        keys()["RS384"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def bad_tokens() -> dict[str, str]:
    """Every refused token, by reason."""
    now = time.time()
    return {
        "wrong_aud": token(PATH, aud=BASE + "/cds-services/other"),
        "wrong_aud_host": token(PATH, aud="https://evil.test/cds-services"),
        "expired": token(PATH, now=now - 600),
        "not_yet_issued": token(PATH, now=now + 600),
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': 'es-1'})}.{_b64(_claims())}.",
        # the classic confusion attack: HMAC keyed with the client's public key
        "hmac": jwt.encode(
            _claims(), "shared-secret-" * 4, algorithm="HS384", headers={"kid": "rs-1"}
        ),
        "hmac_public_key": _hmac_with_public_key(),
        "unknown_iss": token(PATH, iss="https://other-ehr.test"),
        "unknown_kid": token(PATH, kid="nope"),
        "kid_of_other_key_type": token(PATH, alg="ES384", kid="rs-1"),
        "no_kid": jwt.encode(_claims(), keys()["ES384"], algorithm="ES384"),
        "too_long_lived": token(PATH, lifetime_s=3600),
        "no_jti": jwt.encode(
            {k: v for k, v in _claims().items() if k != "jti"},
            keys()["ES384"],
            algorithm="ES384",
            headers={"kid": "es-1"},
        ),
        "garbage": "not.a.jwt",
    }


def _hmac_with_public_key() -> str:
    header = _b64({"alg": "HS384", "typ": "JWT", "kid": "rs-1"})
    body = _b64(_claims())
    import hashlib
    import hmac

    sig = hmac.new(_public_pem(), f"{header}.{body}".encode(), hashlib.sha384).digest()
    return f"{header}.{body}." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_accepts_asymmetric_tokens_for_the_exact_url(clients: TrustedClients, alg: str) -> None:
    caller = verify_token(f"Bearer {token(PATH, alg=alg, tenant='t-9')}", AUD, clients)
    assert caller.iss == ISS and caller.tenant == "t-9"


def test_leeway_is_60_seconds(clients: TrustedClients) -> None:
    now = time.time()
    fresh = token(PATH, lifetime_s=60, now=now - 100)  # expired 40 s ago: inside the leeway
    assert verify_token(f"Bearer {fresh}", AUD, clients).iss == ISS
    stale = token(PATH, lifetime_s=60, now=now - 130)  # 70 s ago: outside
    with pytest.raises(AuthError):
        verify_token(f"Bearer {stale}", AUD, clients)


@pytest.mark.parametrize("name", sorted(bad_tokens()))
def test_refuses(clients: TrustedClients, name: str) -> None:
    tok = bad_tokens()[name]
    with pytest.raises(AuthError):
        verify_token(f"Bearer {tok}", AUD, clients)


def test_refuses_missing_or_non_bearer_header(clients: TrustedClients) -> None:
    for header in (None, "", "Basic abc", f"Token {token(PATH)}", "Bearer "):
        with pytest.raises(AuthError):
            verify_token(header, AUD, clients)


def test_trusted_file_skips_secrets_and_private_keys(tmp_path: Path) -> None:
    data = trusted_clients()
    private = jwt.algorithms.ECAlgorithm.to_jwk(keys()["ES384"], as_dict=True)
    data["https://leaky.test"] = {"keys": [{**private, "kid": "p"}]}
    data["https://hmac.test"] = {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}
    loaded = TrustedClients.from_dict(data)
    assert loaded.key(ISS, "es-1") is not None
    assert loaded.key("https://leaky.test", "p") is None
    assert loaded.key("https://hmac.test", "h") is None
    assert len(TrustedClients.load(tmp_path / "absent.json")) == 0


def test_replay_guard_within_lifetime_only() -> None:
    guard = ReplayGuard()
    now = time.time()
    assert guard.claim(ISS, "a", now + 100, now)
    assert not guard.claim(ISS, "a", now + 100, now + 50)
    assert guard.claim("https://other.test", "a", now + 100, now)  # per issuer
    assert guard.claim(ISS, "a", now + 100, now + 100 + 61)  # expired beyond the leeway


# --- over HTTP ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    with cds_client(tmp_path_factory.mktemp("cds-auth")) as c:
        yield c


def test_http_401_for_every_bad_token_discovery_included(client) -> None:
    refused = {"error": "unauthorized"}
    assert client.get(PATH).json() == refused
    assert client.get(PATH, headers={"Authorization": "Bearer rest-key-0123456789"}).json() == (
        refused
    )  # a REST API key is not a CDS credential
    for name, tok in bad_tokens().items():
        resp = client.get(PATH, headers={"Authorization": f"Bearer {tok}"})
        assert resp.status_code == 401 and resp.json() == refused, name
    body = {"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p"}}
    svc = PATH + "/dosewise-patient-view"
    resp = client.post(svc, json=body, headers=auth(PATH))  # token for another URL
    assert resp.status_code == 401 and resp.json() == refused
    resp = client.post(svc + "/feedback", json={"feedback": []})
    assert resp.status_code == 401 and resp.json() == refused


def test_http_replayed_jti_is_refused(client) -> None:
    headers = auth(PATH)
    assert client.get(PATH, headers=headers).status_code == 200
    second = client.get(PATH, headers=headers)
    assert second.status_code == 401 and second.json() == {"error": "unauthorized"}


def test_http_two_authorization_headers_refused(client) -> None:
    headers = [("authorization", f"Bearer {token(PATH)}"), ("authorization", "Bearer x")]
    assert client.get(PATH, headers=headers).status_code == 401
