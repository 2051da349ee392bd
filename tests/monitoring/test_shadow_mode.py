"""A silent (shadow) deployment (`simulate-deployment --mode shadow`): the service is asked and
recorded every week as in active mode, the clinic's usual care is delivered, and each monitoring
row carries the predictions of the plan that was delivered."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from features import FEATURE_SET
from features.settings import Settings
from monitoring.deployment import make_cohorts
from monitoring.outcomes import label_sessions
from monitoring.run import run_monitor
from monitoring.store import read_recommendations
from serving.audit import audit_log, make_engine
from serving.audit_verify import verify
from serving.monitoring import monitoring_log
from tests.monitoring.conftest import PROGRAMME, START, UNTIL, WEEKS, deployment_config
from training.simulator.engine import TRUTH_SESSION_COLUMNS

KEYS = ["patient_id", "date", "modality"]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["patient_id"] = out["patient_id"].astype(str)
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    return out.sort_values(KEYS).reset_index(drop=True)


def test_shadow_delivers_the_usual_care_prescription(monitor_root, deployments):
    """Every logged session is the one the open-loop simulator (`step(None)`, how `dosewise
    simulate` prescribes the training cohort) gives the same cohorts, whatever the service said;
    the active deployment of the same cohorts delivers something else."""
    shadow = pd.read_parquet(deployments("none", "shadow") / "sessions.parquet")
    parts = []
    for c in make_cohorts(deployment_config("none", "shadow")):
        for _ in range(min(PROGRAMME, WEEKS - c.enrol_week)):
            _, sessions = c.sim.step(None)
            parts.append(sessions.drop(columns=list(TRUTH_SESSION_COLUMNS)))
    usual = _sorted(pd.concat(parts, ignore_index=True))
    got = _sorted(shadow)[list(usual.columns)]
    pd.testing.assert_frame_equal(got, usual, check_dtype=False)
    active = _sorted(pd.read_parquet(deployments("none") / "sessions.parquet"))
    assert len(active) != len(usual) or not active["planned_minutes"].equals(
        usual["planned_minutes"]
    )


def test_shadow_rows_are_the_responses_and_predict_the_delivered_plan(monitor_root, deployments):
    out = deployments("none", "shadow")
    meta = json.loads((out / "deployment.json").read_text())
    assert meta["mode"] == "shadow"
    engine = make_engine(f"sqlite:///{out / 'audit.db'}")
    with engine.connect() as conn:
        audits = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
        plans = conn.execute(
            select(monitoring_log.c.scored_plan, func.count()).group_by(
                monitoring_log.c.scored_plan
            )
        ).all()
    assert verify(engine).ok
    engine.dispose()
    assert dict(plans) == {"usual_care": audits} and audits == meta["recommendations"] > 0

    result = run_monitor(
        Settings(root=monitor_root), START, UNTIL, out, f"sqlite:///{out / 'audit.db'}"
    )
    assert result["scored_plans"] == {"usual_care": audits}
    # each row's per-modality sessions are the sessions the clinic planned that week
    engine = make_engine(f"sqlite:///{out / 'audit.db'}")
    recs, _ = read_recommendations(engine, START, UNTIL, FEATURE_SET.columns)
    engine.dispose()
    sessions = pd.read_parquet(out / "sessions.parquet")
    sessions["date"] = pd.to_datetime(sessions["date"])
    start = sessions["date"] - pd.to_timedelta(sessions["date"].dt.weekday, unit="D")
    planned = sessions.assign(as_of=start).groupby(["patient_id", "as_of", "modality"]).size()
    for m in ("aerobic", "resistance"):
        want = [
            planned.get((p, a, m), 0)
            for p, a in zip(recs["patient_id"], recs["as_of"], strict=True)
        ]
        got = np.nan_to_num(recs[f"sessions_{m}"].to_numpy(float))
        np.testing.assert_array_equal(got, want)
        has = got > 0  # a prediction exactly where the delivered plan has that modality
        assert np.isfinite(recs[f"pred_tolerance_{m}"].to_numpy(float)[has]).all()
        assert np.isnan(recs[f"pred_tolerance_{m}"].to_numpy(float)[~has]).all()
    totals = [r for r in result["performance"] if r["week"] == "all" and r["subgroup"] == "all"]
    assert totals and all(r["per_modality_share"] == 1.0 for r in totals)
    held_or_referred = ~np.isfinite(recs["pred_tolerance"].to_numpy(float))
    assert (held_or_referred & (np.nan_to_num(recs["sessions_aerobic"]) > 0)).any()


def test_shadow_no_shift_matches_the_heldout_figures(monitor_root, deployments):
    """Same case mix as training: realised AUROC and ECE agree with the held-out figures (the
    issue's acceptance, 0.03, at full size; here a tiny model on ~2,000 labels, so within its
    sampling error), and the reading says so; the active deployment's reading is not worse
    than the shadow's relative to its own expected figure."""
    out = deployments("none", "shadow")
    result = run_monitor(
        Settings(root=monitor_root), START, UNTIL, out, f"sqlite:///{out / 'audit.db'}"
    )
    assert result["alarms"] == [], [a["why"] for a in result["alarms"]]
    for r in result["performance_reading"]:
        se = next(
            p["auroc_se"]
            for p in result["performance"]
            if (p["kind"], p["week"], p["subgroup"]) == (r["kind"], "all", "all")
        )
        assert abs(r["realised_auroc"] - r["heldout_auroc"]) < 0.03 + 2 * se, r
        assert abs(r["realised_ece"] - r["heldout_ece"]) < 0.03, r
        assert r["verdict"] == "matches_heldout", r["reading"]


def test_labels_of_a_shadow_row_use_the_delivered_plan_only():
    """A week the service held (no served prediction) but the clinic delivered is labelled
    against the delivered plan's prediction; a shadow row never falls back to the service's
    own prediction (of a plan not delivered), an active row from before 0005 still does."""
    day = pd.Timestamp("2026-03-02")
    recs = pd.DataFrame(
        {
            "patient_id": ["a", "b", "c"],
            "as_of": [day] * 3,
            "scored_plan": ["usual_care", "usual_care", "recommended"],
            "pred_tolerance": [np.nan, 0.9, 0.7],
            "pred_adherence": [np.nan, 0.8, 0.6],
            "pred_tolerance_aerobic": [0.55, np.nan, np.nan],
            "pred_adherence_aerobic": [0.65, np.nan, np.nan],
            "pred_tolerance_resistance": [np.nan, np.nan, np.nan],
            "pred_adherence_resistance": [np.nan, np.nan, np.nan],
        }
    )
    sessions = pd.DataFrame(
        {
            "patient_id": ["a", "b", "c"],
            "date": [day + pd.Timedelta(days=1)] * 3,
            "modality": ["aerobic", "resistance", "aerobic"],
            "attended": [True, True, True],
            "adverse_event": ["none"] * 3,
            "rpe": [12.0] * 3,
            "pain": [1.0] * 3,
            "completed_minutes": [30.0] * 3,
            "planned_minutes": [30.0] * 3,
            "completed_sets": [np.nan] * 3,
            "planned_sets": [np.nan] * 3,
        }
    )
    labels = label_sessions(recs, sessions).set_index("patient_id")
    assert labels.loc["a", "p_tolerance"] == 0.55 and labels.loc["a", "per_modality"]
    assert np.isnan(labels.loc["b", "p_tolerance"])  # the service's 0.9 is not of this plan
    assert labels.loc["c", "p_tolerance"] == 0.7 and not labels.loc["c", "per_modality"]


def test_mode_is_validated():
    with pytest.raises(ValueError, match="unknown mode"):
        deployment_config("none", "silent")
