"""The monitor reads back what the production path wrote, on SQLite and on a real PostgreSQL
server (`audit_url` runs each test on both)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

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
    dosed = [a for a in answers if a.predictions is not None]
    assert np.isfinite(recs["pred_tolerance"]).sum() == len(dosed)
    assert set(recs["tolerance_version"]) == {"0"}
    assert len(base) == 10 and base["baseline_tolerance"].all() and base["baseline_adherence"].all()
    assert set(base["week"]) == {"2026-W48", "2026-W49"}
    np.testing.assert_array_equal(base_matrix, matrix[:10])


def test_per_modality_predictions_are_the_searchs_own_for_the_plan_sent(
    audit_url: str, tmp_path: Path
) -> None:
    """The row's per-modality predictions are those the search made for the week it chose (one
    scoring path, no second prediction): they equal POST /predict on that week (features from
    `features.build` with the dose as candidate, as training builds its examples), and the
    answer's `predictions` follow from them (the lower tolerance, the session-weighted
    attendance)."""
    from features.contract.rest import PredictRequest, WeekPlan
    from serving.http.work import predict_plans

    models = fake_models()
    recommend, close = production_path(Settings(root=tmp_path), audit_url, models)
    as_of = dt.date(2026, 11, 23)
    reqs = _requests(as_of, 6)
    try:
        answers = recommend(reqs, True)
    finally:
        close()
    engine = make_engine(audit_url)
    try:
        recs, _ = read_recommendations(engine, as_of, as_of, FEATURE_SET.columns)
    finally:
        engine.dispose()
    checked = 0
    for i, (req, answer) in enumerate(zip(reqs, answers, strict=True)):
        row = recs[recs["patient_id"] == req.patient.patient_id].iloc[0]
        if answer.prescription is None:
            assert np.isnan(row["pred_tolerance_aerobic"]) and np.isnan(row["sessions_aerobic"])
            continue
        plan = answer.scored.plan.as_dict()
        week = WeekPlan(
            **{
                k: int(v) if k.endswith(("sessions", "sets", "reps")) else v
                for k, v in plan.items()
            }
        )
        direct = predict_plans(
            PredictRequest(
                patient=req.patient, sessions=req.sessions, as_of=as_of, candidates=[week]
            ),
            models,
        )["predictions"][0]
        assert direct["tolerance"] == answer.predictions.tolerance, i
        assert direct["adherence"] == answer.predictions.adherence, i
        tolerances, weighted, sessions = [], 0.0, 0.0
        for m in ("aerobic", "resistance"):
            for kind in ("tolerance", "adherence"):
                want = direct[f"{kind}_{m}"]
                got = row[f"pred_{kind}_{m}"]
                if want is None:
                    assert np.isnan(got), (i, m, kind)
                else:
                    assert abs(got - want) < 1e-4, (i, m, kind, got, want)
                    checked += 1
            assert row[f"sessions_{m}"] == (plan[f"{m}_sessions"] or np.nan) or (
                plan[f"{m}_sessions"] == 0 and np.isnan(row[f"sessions_{m}"])
            )
            if plan[f"{m}_sessions"] >= 1:
                tolerances.append(row[f"pred_tolerance_{m}"])
                weighted += plan[f"{m}_sessions"] * row[f"pred_adherence_{m}"]
                sessions += plan[f"{m}_sessions"]
        assert abs(min(tolerances) - answer.predictions.tolerance) <= 5e-5, i
        assert abs(weighted / sessions - answer.predictions.adherence) <= 5e-5, i
    assert checked >= 4


@pytest.mark.parametrize(
    ("revision", "absent"),
    [("0004", ("modality_predictions", "scored_plan")), ("0005", ("scored_plan",))],
)
def test_rows_written_before_the_newer_columns_stay_readable(
    tmp_path: Path, revision: str, absent: tuple[str, ...]
) -> None:
    """A database at revision 0004 (no `modality_predictions`) or 0005 (no `scored_plan`) is
    read with NaN per-modality predictions (0004) and `scored_plan` = recommended; upgrading it
    to head adds the columns and keeps the rows."""
    from alembic import command
    from sqlalchemy import insert, inspect

    from serving.audit import alembic_config, migrate
    from serving.monitoring import monitoring_log

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)
    old = {c.name for c in monitoring_log.c if c.name not in ("id", *absent)}
    row = {
        "ts": dt.datetime(2026, 11, 23, tzinfo=dt.UTC),
        "writer_id": "w",
        "seq": 1,
        "patient_id": "p1",
        "as_of": "2026-11-23",
        "endpoint": "recommend",
        "decision": "maintain",
        "inputs": {"age": 50.0},
        "predictions": {"tolerance": 0.8, "adherence": 0.7},
        "tolerance_model": "t",
        "tolerance_version": "1",
        "adherence_model": "a",
        "adherence_version": "1",
    }
    if "modality_predictions" not in absent:
        row["modality_predictions"] = {"tolerance_aerobic": 0.75, "sessions_aerobic": 3}
    assert set(row) == old
    table = monitoring_log.__class__(
        "monitoring_log",
        monitoring_log.metadata.__class__(),
        *[c.copy() for c in monitoring_log.c if c.name not in absent],
    )
    with engine.begin() as conn:
        conn.execute(insert(table), [row])
    day = dt.date(2026, 11, 23)
    for _ in range(2):  # before and after the upgrade
        recs, matrix = read_recommendations(engine, day, day, FEATURE_SET.columns)
        assert recs["pred_tolerance"].tolist() == [0.8]
        aerobic = recs["pred_tolerance_aerobic"].to_numpy(float)
        if revision == "0004":
            assert np.isnan(aerobic).all()
        else:
            assert aerobic.tolist() == [0.75]
        assert recs["scored_plan"].tolist() == ["recommended"]
        assert matrix[0, FEATURE_SET.columns.index("age")] == 50.0
        migrate(engine)
    cols = {c["name"] for c in inspect(engine).get_columns("monitoring_log")}
    assert {"modality_predictions", "scored_plan"} <= cols
    engine.dispose()


def test_shadow_rows_predict_the_delivered_plan(audit_url: str, tmp_path: Path) -> None:
    """With delivered plans (a shadow deployment) the rows' per-modality predictions are the
    models on those plans (POST /predict on the same request), not on the service's
    prescription; one row per response, each marked `usual_care`."""
    from features.contract.rest import PredictRequest, WeekPlan
    from serving.http.work import predict_plans

    models = fake_models()
    recommend, close = production_path(Settings(root=tmp_path), audit_url, models)
    as_of = dt.date(2026, 11, 23)
    reqs = _requests(as_of, 4)
    both = {
        "aerobic_sessions": 2.0,
        "aerobic_minutes": 20.0,
        "aerobic_pct_hrmax": 55.0,
        "resistance_sessions": 1.0,
        "resistance_sets": 2.0,
        "resistance_reps": 12.0,
        "resistance_pct_1rm": 45.0,
    }
    aerobic_only = both | {"resistance_sessions": 0.0}
    none = dict.fromkeys(both, 0.0)
    delivered = [both, aerobic_only, none, both | {"aerobic_minutes": 45.0}]
    try:
        answers = recommend(reqs, True, delivered)
    finally:
        close()
    engine = make_engine(audit_url)
    try:
        recs, _ = read_recommendations(engine, as_of, as_of, FEATURE_SET.columns)
    finally:
        engine.dispose()
    assert len(recs) == len(answers) == len(reqs)
    assert set(recs["scored_plan"]) == {"usual_care"}
    for req, plan in zip(reqs, delivered, strict=True):
        row = recs[recs["patient_id"] == req.patient.patient_id].iloc[0]
        whole = ("sessions", "sets", "reps")
        week = WeekPlan(**{k: int(v) if k.endswith(whole) else v for k, v in plan.items()})
        direct = predict_plans(
            PredictRequest(
                patient=req.patient, sessions=req.sessions, as_of=as_of, candidates=[week]
            ),
            models,
        )["predictions"][0]
        for m in ("aerobic", "resistance"):
            assert np.nan_to_num(row[f"sessions_{m}"]) == plan[f"{m}_sessions"]
            for kind in ("tolerance", "adherence"):
                want, got = direct[f"{kind}_{m}"], row[f"pred_{kind}_{m}"]
                if plan[f"{m}_sessions"] == 0:
                    assert np.isnan(got), (plan, m, kind)
                else:
                    assert abs(got - want) < 1e-4, (plan, m, kind, got, want)
