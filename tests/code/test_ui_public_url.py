"""Review links behind a TLS proxy: `review_url` names the public base URL, not the Host header."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from features.settings import Settings
from serving.http.runtime import RUNTIME, configure
from serving.service import asgi_app
from tests.code.test_ui_pages import AUTH, KEY, body
from tests.fakes import fake_models


def test_review_url_uses_the_public_base_url_when_one_is_set(tmp_path: Path) -> None:
    public = "https://dosewise.example.org/api"
    settings = Settings(root=tmp_path, api_keys=KEY, public_base_url=public)
    configure(settings=settings, model_loader=lambda s: fake_models())
    try:
        with TestClient(asgi_app(), raise_server_exceptions=False) as c:
            rec = c.post("/recommend", json=body(), headers=AUTH).json()
    finally:
        RUNTIME.close()
        configure()
    assert rec["review_url"].startswith(public + "/ui/recommendations/"), rec["review_url"]
