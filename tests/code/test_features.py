"""Unit tests of the feature pipeline and labels on small hand-made tables (checked by hand)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import FEATURE_SET, build
from features.contract.rest import RecommendRequest
from features.labels import target_rpe_high, tolerated
from tests.frames import request_to_frames
from tests.synth import synth_cohort

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KERNEL_FACTS = (
    "serious_ae_7d",
    "moderate_ae_7d",
    "intolerant_streak",
    "days_since_last_session",
    "aerobic_intolerant_streak",
    "resistance_intolerant_streak",
    "aerobic_moderate_ae_7d",
    "resistance_moderate_ae_7d",
)
PLAN = {
    "aerobic_sessions": 3,
    "aerobic_minutes": 30.0,
    "aerobic_pct_hrmax": 65.0,
    "resistance_sessions": 2,
    "resistance_sets": 2.0,
    "resistance_reps": 12.0,
    "resistance_pct_1rm": 50.0,
}


def _patient(pid: str = "a", as_of: str = "2026-03-01", **kw: object) -> dict:
    row = {
        "patient_id": pid,
        "as_of": pd.Timestamp(as_of),
        "age": 60,
        "sex": "female",
        "height_cm": 165.0,
        "weight_kg": 70.0,
        "cancer_type": "breast",
        "stage": "II",
        "metastatic_sites": "",
        "treatment_phase": "chemotherapy",
        "days_since_infusion": 3.0,
        "ecog": 1,
        "comorbidities": "",
        "medical_clearance": True,
        "resistance_experience": "novice",
    }
    return row | kw


def _session(date: str, pid: str = "a", **kw: object) -> dict:
    row = {
        "patient_id": pid,
        "date": pd.Timestamp(date),
        "modality": "aerobic",
        "planned_minutes": 30.0,
        "planned_pct_hrmax": 65.0,
        "attended": True,
        "completed_minutes": 30.0,
        "rpe": 12.0,
        "adverse_event": "none",
    }
    return row | kw


def _one(patients: list[dict], sessions: list[dict], as_of: str) -> pd.Series:
    frame = build(pd.DataFrame(patients), pd.DataFrame(sessions), pd.Timestamp(as_of))
    assert len(frame) == 1
    return frame.iloc[0]


# --- FEATURE_SET ---------------------------------------------------------------------------------
def test_feature_set_contract() -> None:
    fs = FEATURE_SET
    assert fs.name == "dosewise-features"
    assert re.fullmatch(r"\d+\.\d+\.\d+", fs.version)
    assert fs.columns == fs.profile + fs.history + fs.candidate
    assert len(set(fs.columns)) == len(fs.columns)
    assert "patient_id" not in fs.columns and "as_of" not in fs.columns
    for fact in KERNEL_FACTS:
        assert fact in fs.history
    # the additive optional patient fields are read by the kernel only, not by the models
    from features.contract.tables import OPTIONAL_PATIENT_COLUMNS

    assert not set(OPTIONAL_PATIENT_COLUMNS) & set(fs.columns)
    required = {
        "aerobic_minutes",
        "aerobic_pct_hrmax",
        "aerobic_sessions",
        "resistance_sets",
        "resistance_pct_1rm",
        "session_minutes",
        "session_intensity",
        "session_sets",
        "weekly_modeq_minutes",
        "weekly_aerobic_minutes",
        "ecog",
    }
    assert required <= set(fs.monotone_decreasing) <= set(fs.columns)
    assert {c for c in fs.candidate if c.endswith("_vs_recent")} <= set(fs.monotone_decreasing)


def test_output_columns_and_dtypes() -> None:
    patients, sessions = synth_cohort(20, 10, seed=1)
    frame = build(patients, sessions, "2026-02-01")
    assert list(frame.columns) == ["patient_id", "as_of", *FEATURE_SET.columns]
    assert all(frame[c].dtype == np.float64 for c in FEATURE_SET.columns)
    assert frame["as_of"].dtype == "datetime64[ns]"


# --- the contract example -----------------------------------------------------------------------
def test_contract_example_request_builds() -> None:
    req = RecommendRequest.model_validate(
        json.loads((FIXTURES / "recommend-request.json").read_text())
    )
    patients, sessions = request_to_frames(req)
    row = build(patients, sessions, req.as_of).iloc[0]
    assert row["patient_id"] == "pt-000417"
    assert row["as_of"] == pd.Timestamp("2026-11-20")
    # 7 days before 2026-11-20: the sessions of 11-14 (26 of 30 min: not tolerated), 11-16, 11-17
    assert row["n_planned_7d"] == 3
    assert row["tolerated_rate_7d"] == pytest.approx(2 / 3)
    assert row["mild_ae_7d"] == 1 and row["moderate_ae_7d"] == 0 and row["serious_ae_7d"] == 0
    assert row["attendance_rate_14d"] == pytest.approx(5 / 6)
    assert row["intolerant_streak"] == 0
    assert row["days_since_last_session"] == 3
    assert row["days_since_first_session"] == 11
    assert row["aerobic_pct_hrmax_mean_28d"] == 66 and row["resistance_pct_1rm_mean_28d"] == 50
    assert row["days_since_infusion"] == 9 and row["in_infusion_window"] == 0
    assert row["comorbidity_lymphedema"] == 1 and row["n_metastatic_sites"] == 0
    assert row["bmi"] == pytest.approx(71.5 / 1.64**2)


# --- kernel facts ---------------------------------------------------------------------------------
def test_adverse_event_windows_are_seven_days_before_as_of() -> None:
    sessions = [
        _session("2026-02-21", adverse_event="serious"),  # 8 days before: outside
        _session("2026-02-22", adverse_event="moderate"),  # 7 days before: inside
        _session("2026-02-28", adverse_event="serious"),  # the day before: inside
        _session("2026-03-01", adverse_event="serious"),  # on as_of: not yet known
    ]
    row = _one([_patient()], sessions, "2026-03-01")
    assert row["serious_ae_7d"] == 1
    assert row["moderate_ae_7d"] == 2  # moderate or serious
    assert row["serious_ae_14d"] == 2


def test_intolerant_streak_counts_attended_sessions_only() -> None:
    sessions = [
        _session("2026-02-10"),  # tolerated
        _session("2026-02-12", completed_minutes=20.0),  # not tolerated (67%)
        _session("2026-02-14", attended=False, completed_minutes=None, rpe=None),
        _session("2026-02-16", rpe=16.0),  # 65% HRmax: band top 13, 16 > 14 -> not tolerated
        _session("2026-02-18", attended=False, completed_minutes=None, rpe=None),
    ]
    snapshot = [_patient(as_of="2026-02-01")]
    row = _one(snapshot, sessions, "2026-02-20")
    assert row["intolerant_streak"] == 2
    assert row["missed_streak"] == 1
    assert row["days_since_last_session"] == 4  # last attended: 02-16
    assert row["days_since_last_planned"] == 2
    row = _one(snapshot, [*sessions, _session("2026-02-19")], "2026-02-20")
    assert row["intolerant_streak"] == 0 and row["missed_streak"] == 0


def test_intolerance_streak_per_modality_ignores_the_other_modality() -> None:
    """Issue #10 item 3: a tolerated resistance session does not reset a run of intolerant aerobic
    sessions, and vice versa; the all-session streak does reset."""
    res = dict(modality="resistance", planned_pct_hrmax=None, planned_pct_1rm=50.0, rpe=12.0)
    sessions = [
        _session("2026-02-10", **res, planned_sets=2.0, completed_sets=1.0),  # res: 1 of 2 sets
        _session("2026-02-11"),  # aerobic tolerated
        _session("2026-02-12", completed_minutes=20.0),  # aerobic not tolerated
        _session("2026-02-13", **res, planned_sets=2.0, completed_sets=2.0),  # res tolerated
        _session("2026-02-14", rpe=17.0),  # aerobic not tolerated (RPE)
        _session("2026-02-15", attended=False, completed_minutes=None, rpe=None),  # missed
        _session(
            "2026-02-16", **res, planned_sets=2.0, completed_sets=2.0, adverse_event="moderate"
        ),
    ]
    snapshot = [_patient(as_of="2026-02-01")]
    row = _one(snapshot, sessions, "2026-02-17")
    assert row["intolerant_streak"] == 2  # 02-14 and 02-16 (moderate AE); 02-13 reset it
    assert row["aerobic_intolerant_streak"] == 2  # 02-12 and 02-14; 02-13 is resistance
    assert row["resistance_intolerant_streak"] == 1  # 02-16 (moderate AE)
    assert row["aerobic_moderate_ae_7d"] == 0 and row["resistance_moderate_ae_7d"] == 1
    assert row["aerobic_serious_ae_7d"] == 0 and row["resistance_serious_ae_14d"] == 0
    assert row["aerobic_n_planned_14d"] == 4 and row["resistance_n_planned_14d"] == 3
    assert row["aerobic_attendance_rate_14d"] == pytest.approx(3 / 4)
    assert row["resistance_attendance_rate_14d"] == 1
    assert row["aerobic_completion_rate_14d"] == pytest.approx((1 + 20 / 30 + 1) / 3)
    assert row["resistance_completion_rate_14d"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert row["aerobic_tolerated_rate_14d"] == pytest.approx(1 / 3)
    assert row["resistance_tolerated_rate_14d"] == pytest.approx(1 / 3)
    # a tolerated aerobic session ends the aerobic run only
    row = _one(snapshot, [*sessions, _session("2026-02-16")], "2026-02-17")
    assert row["aerobic_intolerant_streak"] == 0 and row["resistance_intolerant_streak"] == 1
    # sessions on or after as_of are not seen
    row = _one(snapshot, sessions, "2026-02-13")
    assert row["aerobic_intolerant_streak"] == 1 and row["resistance_intolerant_streak"] == 1


def test_tolerated_record_is_the_best_clean_week_of_the_last_28_days() -> None:
    """Kernel 2026.12.3's progression reference: per modality, the most done in a 7-day
    window of the last 28 days whose attended sessions were all tolerated with completion
    logged; a missed session does not spoil a week (nor count in it: FEATURE_SET 1.3.0), an
    intolerant or unlogged one does."""
    res = dict(modality="resistance", planned_pct_hrmax=None, completed_minutes=None,
               planned_minutes=None, planned_sets=2.0, completed_sets=2.0)  # fmt: skip
    sessions = [
        # window 4 (02-01..02-07: 22-28 days before 03-01): 3 x 40 min, one not tolerated
        *(_session(f"2026-02-0{d}", planned_minutes=40.0, completed_minutes=40.0) for d in (2, 4)),
        _session("2026-02-06", planned_minutes=40.0, completed_minutes=40.0, rpe=18.0),
        _session("2026-02-03", **res, planned_pct_1rm=70.0),  # the only lift of window 4: clean
        # window 3 (02-08..02-14): 3 x 30 min planned, one missed, one done for 28 -> 58 done,
        # clean; lifts at 60% and 70%, a missed one at 95% -> 65 (75 if the missed one counted)
        _session("2026-02-09"),
        _session("2026-02-11", attended=False, completed_minutes=None, rpe=None),
        _session("2026-02-13", completed_minutes=28.0),
        _session("2026-02-10", **res, planned_pct_1rm=60.0),
        _session("2026-02-12", **res, planned_pct_1rm=70.0),
        _session(
            "2026-02-14",
            **(res | dict(completed_sets=None)),
            planned_pct_1rm=95.0,
            attended=False,
            rpe=None,
        ),
        # window 2 (02-15..02-21): 2 x 35 min, completion not logged -> no evidence
        _session("2026-02-16", planned_minutes=35.0, completed_minutes=None),
        _session("2026-02-18", planned_minutes=35.0, completed_minutes=None),
        _session("2026-02-17", **res, planned_pct_1rm=65.0, adverse_event="moderate"),
        # window 1 (02-22..02-28): the light week, 3 x 10 min, tolerated
        *(
            _session(f"2026-02-{d}", planned_minutes=10.0, completed_minutes=10.0)
            for d in (23, 25, 27)
        ),
    ]
    snapshot = [_patient(as_of="2026-02-01")]
    row = _one(snapshot, sessions, "2026-03-01")
    assert row["aerobic_tolerated_weekly_minutes_28d"] == pytest.approx(58.0)
    # window 4 is not clean for aerobic (the RPE 18 walk) but clean for resistance (per modality)
    assert row["resistance_tolerated_pct_1rm_28d"] == pytest.approx(70.0)
    # sessions on or after as_of are not seen; a window must have an attended session
    row = _one(snapshot, sessions, "2026-02-08")  # only window 1 = 02-01..02-07, not clean
    assert row["aerobic_tolerated_weekly_minutes_28d"] == 0.0
    assert row["resistance_tolerated_pct_1rm_28d"] == pytest.approx(70.0)
    row = _one(snapshot, [_session("2026-02-20", attended=False, completed_minutes=None)],
               "2026-03-01")  # fmt: skip
    assert row["aerobic_tolerated_weekly_minutes_28d"] == 0.0
    assert np.isnan(row["resistance_tolerated_pct_1rm_28d"])
    # older than 28 days: forgotten
    row = _one(snapshot, sessions, "2026-03-15")
    assert row["aerobic_tolerated_weekly_minutes_28d"] == pytest.approx(30.0)  # the light week
    assert np.isnan(row["resistance_tolerated_pct_1rm_28d"])  # 02-17 had a moderate AE


def test_new_patient_without_sessions() -> None:
    empty = pd.DataFrame(columns=["patient_id", "date"])
    for sessions in (empty, None):
        frame = build(pd.DataFrame([_patient()]), sessions, "2026-03-01")
        row = frame.iloc[0]
        assert row["n_sessions_total"] == 0 and row["intolerant_streak"] == 0
        assert row["serious_ae_7d"] == 0 and np.isnan(row["days_since_last_session"])
        assert np.isnan(row["attendance_rate_28d"])  # a rate over nothing is unknown
        assert row["aerobic_intolerant_streak"] == 0 and row["resistance_moderate_ae_7d"] == 0
        assert np.isnan(row["aerobic_completion_rate_14d"])


# --- snapshots: point-in-time join ---------------------------------------------------------------
def test_latest_snapshot_on_or_before_as_of_is_used(caplog: pytest.LogCaptureFixture) -> None:
    patients = pd.DataFrame(
        [
            _patient(as_of="2026-02-01", ecog=0, days_since_infusion=10.0),
            _patient(as_of="2026-02-15", ecog=2, days_since_infusion=18.0),
            _patient(as_of="2026-03-01", ecog=3),
            _patient("b", as_of="2026-03-10"),
        ]
    )
    points = pd.DataFrame(
        {
            "patient_id": ["a", "a", "a", "b", "a"],
            "as_of": pd.to_datetime(
                ["2026-02-20", "2026-02-15", "2026-01-01", "2026-03-01", "2026-02-01"]
            ),
            "label": [1, 2, 3, 4, 5],
        },
        index=[10, 11, 12, 13, 14],
    )
    with caplog.at_level(logging.WARNING, logger="features.pipeline"):
        frame = build(patients, None, points)
    assert list(frame.index) == [10, 11, 14]  # points without a snapshot dropped, order kept
    assert list(frame["label"]) == [1, 2, 5]
    assert list(frame["ecog"]) == [2, 2, 0]
    # the chemo cycle moves on: 18 days + 5 days -> day 2 of the next 21-day cycle
    assert list(frame["days_since_infusion"]) == [23, 18, 10]
    assert list(frame["in_infusion_window"]) == [1, 0, 0]
    assert "2 of 5" in caplog.text
    assert "'a'" not in caplog.text and "'b'" not in caplog.text


def test_scalar_as_of_gives_one_row_per_patient_in_first_seen_order() -> None:
    patients = pd.DataFrame(
        [_patient("z", ecog=1), _patient("y", ecog=2), _patient("z", "2026-03-05", ecog=3)]
    )
    frame = build(patients, None, "2026-03-10")
    assert list(frame["patient_id"]) == ["z", "y"]
    assert list(frame["ecog"]) == [3, 2]


# --- candidates --------------------------------------------------------------------------------
def test_candidates_one_row_each_in_order_with_derived_features() -> None:
    patients = pd.DataFrame([_patient(), _patient("b")])
    sessions = pd.DataFrame(
        [
            _session("2026-02-20", planned_pct_hrmax=60.0, planned_minutes=20.0),
            _session("2026-02-25", planned_pct_hrmax=70.0, planned_minutes=40.0),
            _session(
                "2026-02-26",
                modality="resistance",
                planned_pct_hrmax=None,
                planned_pct_1rm=40.0,
                planned_sets=2.0,
                completed_sets=2.0,
            ),
        ]
    )
    keys = pd.DataFrame({"patient_id": ["a", "b"], "as_of": pd.Timestamp("2026-03-01")})
    cands = pd.DataFrame(
        [
            PLAN | {"patient_id": "b", "modality": "aerobic", "_row": 0},
            PLAN | {"patient_id": "a", "modality": "aerobic", "_row": 1, "aerobic_pct_hrmax": 80},
            PLAN | {"patient_id": "a", "modality": "resistance", "_row": 2},
            PLAN | {"patient_id": "a", "modality": None, "_row": 3, "aerobic_sessions": 0},
        ]
    ).assign(as_of=pd.Timestamp("2026-03-01"))
    frame = build(patients, sessions, keys, candidates=cands)
    assert list(frame["_row"]) == [0, 1, 2, 3] and list(frame["patient_id"]) == list("baaa")
    assert list(frame["modality"]) == ["aerobic", "aerobic", "resistance", None]
    r = frame.set_index("_row")
    assert r.loc[0, "weekly_modeq_minutes"] == 90 and r.loc[1, "weekly_modeq_minutes"] == 180
    assert list(r["is_aerobic"].iloc[:3]) == [1, 1, 0] and np.isnan(r.loc[3, "is_aerobic"])
    assert r.loc[1, "session_intensity"] == 80 and r.loc[2, "session_intensity"] == 50
    assert r.loc[2, "session_sets"] == 2 and np.isnan(r.loc[1, "session_sets"])
    assert np.isnan(r.loc[3, "session_intensity"]) and r.loc[3, "weekly_aerobic_minutes"] == 0
    assert r.loc[3, "total_sessions"] == 2
    # relative to the last 28 days of patient a: aerobic 65% on average, 30 min, resistance 40%
    assert r.loc[1, "session_intensity_vs_recent"] == 15
    assert r.loc[1, "session_minutes_vs_recent"] == 1.0
    assert r.loc[2, "session_intensity_vs_recent"] == 10
    assert np.isnan(r.loc[0, "session_intensity_vs_recent"])  # patient b has no history
    # history features are those of the candidate's own patient
    assert r.loc[1, "n_sessions_total"] == 3 and r.loc[0, "n_sessions_total"] == 0


def test_relative_dose_features_increase_with_dose() -> None:
    patients, sessions = synth_cohort(30, 30, seed=4)
    ids = patients["patient_id"].to_numpy()
    keys = pd.DataFrame({"patient_id": ids, "as_of": pd.Timestamp("2026-03-01")})
    base = pd.DataFrame([PLAN] * len(keys)).assign(patient_id=ids, as_of=keys["as_of"])
    more = base.assign(aerobic_minutes=45.0, aerobic_pct_hrmax=80.0, aerobic_sessions=4)
    for modality in ("aerobic", "resistance", None):
        lo = build(patients, sessions, keys, candidates=base.assign(modality=modality))
        bigger = more.assign(modality=modality, resistance_pct_1rm=60.0, resistance_sets=3.0)
        hi = build(patients, sessions, keys, candidates=bigger)
        for col in FEATURE_SET.monotone_decreasing:
            a, b = lo[col].to_numpy(), hi[col].to_numpy()
            both = ~np.isnan(a) & ~np.isnan(b)
            assert np.all(b[both] >= a[both]), col
            assert np.array_equal(np.isnan(a), np.isnan(b)), col


def test_candidates_must_reference_prediction_points() -> None:
    patients = pd.DataFrame([_patient()])
    keys = pd.DataFrame({"patient_id": ["a"], "as_of": pd.Timestamp("2026-03-01")})
    cands = pd.DataFrame([PLAN | {"patient_id": "a", "as_of": pd.Timestamp("2026-03-02")}])
    with pytest.raises(ValueError, match="not in the as_of frame"):
        build(patients, None, keys, candidates=cands)


def test_carried_column_clashing_with_a_feature_is_refused() -> None:
    keys = pd.DataFrame({"patient_id": ["a"], "as_of": pd.Timestamp("2026-03-01"), "ecog": [9]})
    with pytest.raises(ValueError, match="clash"):
        build(pd.DataFrame([_patient()]), None, keys)


def test_missing_required_columns_are_named() -> None:
    with pytest.raises(ValueError, match="as_of"):
        build(pd.DataFrame([_patient()]), None, pd.DataFrame({"patient_id": ["a"]}))


# --- labels ---------------------------------------------------------------------------------
def test_target_rpe_high_bands() -> None:
    pct = [40, 63.9, 64, 76, 76.9, 77, 95, 96, 100, np.nan]
    assert np.array_equal(
        target_rpe_high("aerobic", pct),
        [11, 11, 13, 13, 13, 17, 17, 19, 19, np.nan],
        equal_nan=True,
    )
    pct = [30, 49.9, 50, 69, 69.9, 70, 90]
    assert list(target_rpe_high("resistance", pct)) == [11, 11, 13, 13, 13, 17, 17]
    mixed = target_rpe_high(pd.Series(["aerobic", "resistance", None]), [70, 70, 70])
    assert np.array_equal(mixed, [13, 17, np.nan], equal_nan=True)


def test_tolerated_follows_the_definition() -> None:
    rows = [
        ({}, 1.0),
        ({"completed_minutes": 27.0}, 1.0),  # exactly 90%
        ({"completed_minutes": 26.9}, 0.0),
        ({"completed_minutes": None}, 1.0),  # completion not recorded
        ({"rpe": 14.0}, 1.0),  # band top 13 + 1
        ({"rpe": 15.0}, 0.0),
        ({"rpe": None}, 1.0),  # missing RPE counts as OK
        ({"planned_pct_hrmax": 80.0, "rpe": 18.0}, 1.0),  # vigorous: top 17
        ({"adverse_event": "mild"}, 1.0),
        ({"adverse_event": "moderate"}, 0.0),
        ({"adverse_event": "serious"}, 0.0),
        ({"attended": False, "completed_minutes": None, "rpe": None}, np.nan),
        ({"attended": False, "adverse_event": "serious"}, np.nan),
    ]
    res = {
        "modality": "resistance",
        "planned_pct_hrmax": None,
        "planned_pct_1rm": 60.0,
        "planned_sets": 3.0,
        "completed_minutes": None,
    }
    rows += [
        (res | {"completed_sets": 3.0}, 1.0),
        (res | {"completed_sets": 2.0}, 0.0),  # 67% of the sets
        (res | {"completed_sets": 3.0, "rpe": 15.0}, 0.0),  # 60% 1RM: top 13
        (res | {"planned_sets": None, "completed_minutes": 20.0}, 0.0),  # falls back to minutes
        (res | {"completed_sets": None, "completed_minutes": 30.0}, 1.0),
    ]
    frame = pd.DataFrame([_session("2026-02-01") | kw for kw, _ in rows], index=range(100, 118))
    expected = [want for _, want in rows]
    got = tolerated(frame)
    assert list(got.index) == list(frame.index)
    assert np.array_equal(got.to_numpy(), expected, equal_nan=True)


def test_candidate_matrix_equals_build_with_candidates() -> None:
    """The policy's fast "what if" path gives exactly the features `build` gives."""
    from features.pipeline import candidate_matrix
    from tests.synth import synth_cohort

    patients, sessions = synth_cohort(40, seed=5)
    as_of = sessions["date"].max() + pd.Timedelta(days=1)
    base = build(patients, sessions, as_of)
    rng = np.random.default_rng(0)
    point = rng.integers(0, len(base), 120)
    cands = pd.DataFrame(
        {
            "patient_id": base["patient_id"].to_numpy()[point],
            "aerobic_sessions": rng.integers(0, 6, 120),
            "aerobic_minutes": rng.uniform(10, 60, 120),
            "aerobic_pct_hrmax": rng.uniform(40, 85, 120),
            "resistance_sessions": rng.integers(0, 3, 120),
            "resistance_sets": rng.integers(1, 4, 120),
            "resistance_reps": 12,
            "resistance_pct_1rm": rng.uniform(30, 80, 120),
            "modality": rng.choice(["aerobic", "resistance", None], 120),
        }
    )
    via_build = build(patients, sessions, as_of, candidates=cands)
    fast = candidate_matrix(base[list(FEATURE_SET.columns)].to_numpy(), point, cands)
    np.testing.assert_array_equal(via_build[list(FEATURE_SET.columns)].to_numpy(), fast)
