"""Shared CDS Hooks test machinery: client keys, tokens, dated fixtures, an in-process client."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from serving.cds.keys import generate_private_key, public_jwk, sign_token

FHIR = Path(__file__).resolve().parent / "fixtures"
ANCHOR = dt.date(2026, 11, 20)  # tests/cds/fixtures/make_fixtures.py
BASE = "https://dosewise.test"
ISS = "https://ehr.test"
PATIENTS = ("chemo", "metastatic", "hold", "refer", "sparse")
_DATE = re.compile(r'"(\d{4}-\d{2}-\d{2})')


@lru_cache(maxsize=1)
def keys() -> dict[str, Any]:
    """One ES384 and one RS384 client key (made once per test process)."""
    return {"ES384": generate_private_key("ES384"), "RS384": generate_private_key("RS384")}


def trusted_clients() -> dict[str, Any]:
    k = keys()
    return {
        ISS: {
            "keys": [
                public_jwk(k["ES384"], "es-1", "ES384"),
                public_jwk(k["RS384"], "rs-1", "RS384"),
            ]
        }
    }


def write_trusted(path: Path) -> Path:
    path.write_text(json.dumps(trusted_clients()))
    return path


def token(path: str, alg: str = "ES384", base: str = BASE, **kw: Any) -> str:
    kid = kw.pop("kid", "es-1" if alg == "ES384" else "rs-1")
    iss = kw.pop("iss", ISS)
    aud = kw.pop("aud", base + path)
    return sign_token(keys()[alg], iss, aud, kid, alg, **kw)


def auth(path: str, **kw: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(path, **kw)}"}


def dated(text: str, today: dt.date | None = None) -> str:
    """Fixture JSON with every date moved so that ANCHOR becomes `today` (birth dates too)."""
    shift = (today or dt.datetime.now(dt.UTC).date()) - ANCHOR

    def move(m: re.Match[str]) -> str:
        return '"' + (dt.date.fromisoformat(m.group(1)) + shift).isoformat()

    return _DATE.sub(move, text)


def fixture(name: str, today: dt.date | None = None) -> dict[str, Any]:
    """The patient-view request of a fixture patient, dated for `today`."""
    return json.loads(dated((FHIR / f"patient-view-{name}.json").read_text(), today))


@contextmanager
def cds_client(tmp_path: Path, loader: Any = None, **settings_kw: Any) -> Iterator[Any]:
    """The service app in process (fake models unless `loader`), configured for CDS Hooks
    (`settings_kw`: more settings, e.g. `cds_symptom_codes`)."""
    from starlette.testclient import TestClient

    from features.settings import Settings
    from serving.http.runtime import RUNTIME, configure
    from serving.service import asgi_app
    from tests.fakes import fake_models

    settings = Settings(
        root=tmp_path,
        api_keys="rest-key-0123456789",
        public_base_url=BASE,
        cds_trusted_clients=write_trusted(tmp_path / "trusted.json"),
        **settings_kw,
    )
    configure(settings=settings, model_loader=loader or (lambda s: fake_models()))
    try:
        with TestClient(asgi_app(), raise_server_exceptions=False) as client:
            yield client
    finally:
        RUNTIME.close()
        configure()
