"""Property-based API test: schemathesis (4.x) generates requests from the service's own
`/docs.json` (valid and invalid ones) and runs them against the BentoML app in process, with the
stand-in models. Bounded: the documented examples, the coverage phase's deterministic boundary
cases and 100 generated cases per operation.

Checks: never a 5xx; every status, content type and body is the one documented for it. Not
checked: `positive_data_acceptance` (the schema cannot express "sessions dated before as_of",
so some schema-valid bodies rightly get 422) and `negative_data_rejection` for the same reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as asgi_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from features.settings import Settings
from serving.http.openapi import EXAMPLE_REQUEST, openapi_document
from serving.http.runtime import RUNTIME, configure
from serving.service import asgi_app
from tests.fakes import fake_models

pytestmark = pytest.mark.integration

KEY = "schemathesis-key"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


APP = asgi_app()
# The document the service serves (built from the same code), bound to the in-process app.
# schemathesis starts the app's lifespan (service startup) on the first call and keeps it running;
# the fixture below configures the service before that and shuts it down after this module.
schema = schemathesis.openapi.from_dict(openapi_document())
schema.app = APP
# The coverage phase adds ~2,600 deterministic boundary cases (issue #17: part of the normal test
# command, the fuzzing target with tests/code/test_fuzz_bodies.py); DOSEWISE_SCHEMATHESIS_COVERAGE=0
# turns it off for a quick local run.
schema.config.phases.coverage.enabled = os.environ.get("DOSEWISE_SCHEMATHESIS_COVERAGE") != "0"
SEEN: dict[int | str, int] = {}
# Review pages are opened by plain GETs on the same app (a signed link needs no API key).
PAGES = TestClient(APP, raise_server_exceptions=False)


@pytest.fixture(scope="module", autouse=True)
def configured_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    root: Path = tmp_path_factory.mktemp("schemathesis")
    configure(settings=Settings(root=root, api_keys=KEY), model_loader=lambda s: fake_models())
    try:
        yield
    finally:
        asgi_lifespans.shutdown_lifespans()  # runs the service's shutdown hook
        RUNTIME.close()
        configure()


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_never_fails(case: Any) -> None:
    response = case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=CHECKS)
    assert response.status_code < 500
    SEEN[response.status_code] = SEEN.get(response.status_code, 0) + 1
    for url in review_urls(response):  # the review page of every answer opens, too
        page = PAGES.get(urlsplit(url).path + "?" + urlsplit(url).query)
        assert page.status_code == 200, (url, page.status_code, page.text[:300])
        SEEN["pages"] = SEEN.get("pages", 0) + 1


def review_urls(response: Any) -> list[str]:
    """The `review_url`s of a 200 answer to /recommend or /recommend_batch."""
    if response.status_code != 200 or "review_url" not in response.text:
        return []
    body = response.json()
    answers = body if isinstance(body, list) else [body]
    return [a["review_url"] for a in answers if isinstance(a, dict) and a.get("review_url")]


def test_documented_example_succeeds() -> None:
    """Sanity check of the setup itself: the documented example is answered with 200."""
    case = schema["/recommend"]["POST"].Case(body=EXAMPLE_REQUEST, media_type="application/json")
    response = case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=CHECKS)
    assert response.status_code == 200
    assert RUNTIME.ready()


def test_cases_were_run() -> None:
    """Runs after the generated tests (file order): they did run, and never got a 5xx."""
    statuses = {k: v for k, v in SEEN.items() if isinstance(k, int)}
    total = sum(statuses.values())
    print(f"schemathesis: {total} cases, by status {dict(sorted(statuses.items()))}, ", end="")
    print(f"{SEEN.get('pages', 0)} review pages opened")
    assert total >= 250, SEEN
    assert not any(code >= 500 for code in statuses), SEEN
    assert statuses.get(200, 0) > 0 and statuses.get(422, 0) > 0, SEEN
    assert SEEN.get("pages", 0) > 0, SEEN
