"""The monitor reads back what the production path wrote, on SQLite and on a real PostgreSQL
server (`audit_url` runs each test on both)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

from features import FEATURE_SET
from features.contract.rest import RecommendRequest
from features.settings import Settings
from monitoring.simulate import production_path
from monitoring.store import read_baseline, read_recommendations
from serving.audit import make_engine
from tests.fakes import fake_models

BODY = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "recommend-request.json").read_text()
)


def _requests(as_of: dt.date, n: int) -> list[RecommendRequest]:
    out = []
    for i in range(n):
        body = json.loads(json.dumps(BODY)) | {"as_of": as_of.isoformat()}
        body["patient"]["patient_id"] = f"p{i}"
        body["patient"]["age"] = 40 + i
        out.append(RecommendRequest.model_validate(body))
    return out


def test_monitor_reads_back_rows_and_baseline(audit_url: str, tmp_path: Path) -> None:
    recommend, close = production_path(Settings(root=tmp_path), audit_url, fake_models())
    start = dt.date(2026, 11, 23)  # a Monday after the example's sessions
    try:
        answers = []
        for week in range(4):
            answers += recommend(_requests(start + dt.timedelta(weeks=week), 5), True)
        recommend(_requests(start + dt.timedelta(weeks=4), 5), False)  # not recorded
    finally:
        close()
    engine = make_engine(audit_url)
    try:
        recs, matrix = read_recommendations(
            engine, start, start + dt.timedelta(weeks=10), FEATURE_SET.columns
        )
        base, base_matrix = read_baseline(engine, 2)
    finally:
        engine.dispose()
    assert len(recs) == 20 and matrix.shape == (20, len(FEATURE_SET.columns))
    assert recs["week"].tolist() == [f"2026-W{w}" for w in (48, 49, 50, 51) for _ in range(5)]
    age = matrix[:, FEATURE_SET.columns.index("age")]
    assert sorted(age[:5].tolist()) == [40, 41, 42, 43, 44]
    dosed = [a for a in answers if a["predictions"] is not None]
    assert np.isfinite(recs["pred_tolerance"]).sum() == len(dosed)
    assert set(recs["tolerance_version"]) == {"0"}
    assert len(base) == 10 and base["baseline_tolerance"].all() and base["baseline_adherence"].all()
    assert set(base["week"]) == {"2026-W48", "2026-W49"}
    np.testing.assert_array_equal(base_matrix, matrix[:10])
