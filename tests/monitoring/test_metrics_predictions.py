"""`/metrics` exposes the live prediction distribution per model and version (issue #15): a
Prometheus histogram in the reference's 20 bins, labelled only by values from the registry."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from features.settings import Settings
from serving.http.runtime import RUNTIME, configure
from serving.service import asgi_app
from tests.fakes import fake_models

KEY = "metrics-key-0123456789"
BODY = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures/recommend-request.json").read_text()
)


def _histogram(client: TestClient) -> dict[tuple[str, str, str], float]:
    text = client.get("/metrics").text
    out = {}
    for fam in text_string_to_metric_families(text):
        if fam.name == "dosewise_prediction":
            for s in fam.samples:
                if s.name.endswith("_bucket"):
                    out[(s.labels["model"], s.labels["version"], s.labels["le"])] = s.value
                elif s.name.endswith("_count"):
                    out[(s.labels["model"], s.labels["version"], "count")] = s.value
    return out


def test_metrics_expose_prediction_histograms_per_model_version(tmp_path: Path) -> None:
    configure(settings=Settings(root=tmp_path, api_keys=KEY), model_loader=lambda s: fake_models())
    try:
        with TestClient(asgi_app(), raise_server_exceptions=False) as client:
            before = _histogram(client)
            auth = {"Authorization": f"Bearer {KEY}"}
            answers = [client.post("/recommend", json=BODY, headers=auth).json() for _ in range(3)]
            batch = client.post("/recommend_batch", json=[BODY, BODY], headers=auth).json()
            after = _histogram(client)
    finally:
        RUNTIME.close()
        configure()
    dosed = [a for a in answers + batch if a["predictions"] is not None]
    assert dosed, "the example request should get a dose"
    for kind in ("tolerance", "adherence"):
        version = dosed[0]["model"][kind]["version"]
        key = (kind, version, "count")
        assert after[key] - before.get(key, 0.0) == len(dosed)
        p = dosed[0]["predictions"][kind]
        upper = min(b for b in (round(0.05 * i, 2) for i in range(1, 21)) if b >= p)
        bucket = (kind, version, f"{upper}")
        assert after[bucket] - before.get(bucket, 0.0) == len(dosed)
    # labels: the two model kinds only, versions as the loaded models report them (other tests
    # in this process may have served other versions; no request value ever becomes a label)
    assert {m for m, _, _ in after} == {"tolerance", "adherence"}
    assert "pt-" not in "".join(v for _, v, _ in after)
