"""Point-in-time and one-code-path tests of `features.build` (DESIGN.md sections 1 and 3).

- leakage: nothing dated on or after a prediction point (sessions, later snapshots) can change
  any of its features;
- REST (a cohort of one, through `requests_to_columns` or `request_to_frames`) and batch (the
  whole cohort) give bit-identical features, and so do DataFrames and dicts of numpy arrays;
- renaming patients or shuffling rows changes no feature;
- the vectorised window arithmetic agrees with a slow, obviously correct pandas reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features import FEATURE_SET, build
from features.contract.convert import requests_to_columns
from features.labels import tolerated
from tests.frames import request_to_frames
from tests.synth import START, synth_cohort, to_request

COLUMNS = list(FEATURE_SET.columns)
TIE_COLUMNS = [
    "attended",
    "planned_minutes",
    "completed_minutes",
    "planned_sets",
    "completed_sets",
    "planned_pct_hrmax",
    "planned_pct_1rm",
    "rpe",
]
PLAN = {
    "aerobic_sessions": 3,
    "aerobic_minutes": 30.0,
    "aerobic_pct_hrmax": 66.0,
    "resistance_sessions": 2,
    "resistance_sets": 2.0,
    "resistance_reps": 12.0,
    "resistance_pct_1rm": 50.0,
}


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Exact equality of the feature values (NaN equals NaN), ignoring the index."""
    pd.testing.assert_frame_equal(
        a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True
    )


def _points(patients: pd.DataFrame, rng: np.random.Generator, per_patient: int) -> pd.DataFrame:
    ids = np.repeat(patients["patient_id"].unique(), per_patient)
    days = rng.integers(0, 70, len(ids))
    return pd.DataFrame({"patient_id": ids, "as_of": START + pd.to_timedelta(days, unit="D")})


def _candidates(points: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(points)
    cands = pd.DataFrame([PLAN] * n).assign(
        patient_id=points["patient_id"].to_numpy(),
        as_of=points["as_of"].to_numpy(),
        aerobic_pct_hrmax=rng.integers(45, 85, n).astype(float),
        aerobic_minutes=rng.choice([15.0, 30.0, 45.0], n),
        modality=rng.choice(np.array(["aerobic", "resistance", None], dtype=object), n),
    )
    return cands.assign(_row=np.arange(n))


# --- leakage -------------------------------------------------------------------------------
def _tamper(sessions: pd.DataFrame, cutoff: pd.Series, rng: np.random.Generator) -> pd.DataFrame:
    """Change, delete and add sessions dated on or after each patient's cutoff."""
    late = sessions["date"].to_numpy() >= cutoff.to_numpy()
    s = sessions.copy()
    idx = np.flatnonzero(late)
    change = idx[rng.random(len(idx)) < 0.5]
    s.loc[change, "attended"] = ~s.loc[change, "attended"].astype(bool)
    s.loc[change, "adverse_event"] = "serious"
    s.loc[change, "rpe"] = 20.0
    s.loc[change, "planned_minutes"] = 90.0
    s.loc[change, "completed_minutes"] = 1.0
    s = s.drop(index=idx[rng.random(len(idx)) < 0.3])
    extra = s.sample(n=min(len(s), 40), random_state=int(rng.integers(1 << 31)))
    pid_cut = dict(zip(sessions["patient_id"], cutoff, strict=True))
    extra = extra.assign(
        date=[
            pid_cut[p] + pd.Timedelta(days=int(d))
            for p, d in zip(extra["patient_id"], rng.integers(0, 10, len(extra)), strict=True)
        ],
        adverse_event="serious",
        attended=True,
        rpe=19.0,
    )
    out = pd.concat([s, extra], ignore_index=True)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), with_candidates=st.booleans())
def test_nothing_on_or_after_as_of_changes_any_feature(seed: int, with_candidates: bool) -> None:
    rng = np.random.default_rng(seed)
    patients, sessions = synth_cohort(25, 30, snapshots=6, seed=seed % 1000)
    # one prediction point per patient: any session on/after it is "the future" for it
    points = _points(patients, rng, 1).sample(frac=1.0, random_state=seed % 1000)
    cutoff = sessions["patient_id"].map(
        dict(zip(points["patient_id"], points["as_of"], strict=True))
    )
    cands = _candidates(points, rng) if with_candidates else None
    before = build(patients, sessions, points, candidates=cands)

    future = _tamper(sessions, cutoff, rng)
    assert len(future) != len(sessions) or not future.equals(sessions)
    # later snapshots change too (a clinic visit after the prediction point)
    p = patients.copy()
    later = (
        p["as_of"].to_numpy()
        > p["patient_id"]
        .map(dict(zip(points["patient_id"], points["as_of"], strict=True)))
        .to_numpy()
    )
    p.loc[later, ["ecog", "platelets_10e9_l", "days_since_infusion"]] = [4.0, 5.0, 0.0]
    after = build(p, future, points, candidates=cands)
    _same(before, after)


def test_nothing_on_or_after_a_scalar_as_of_changes_any_feature() -> None:
    rng = np.random.default_rng(3)
    patients, sessions = synth_cohort(60, 40, seed=3)
    as_of = START + pd.Timedelta(days=40)
    before = build(patients, sessions, as_of)
    cutoff = pd.Series(as_of, index=sessions.index)
    _same(before, build(patients, _tamper(sessions, cutoff, rng), as_of))
    # ... while a session the day before as_of does change something
    s = pd.concat([sessions, sessions.iloc[[0]].assign(date=as_of - pd.Timedelta(days=1))])
    assert not build(patients, s, as_of)[COLUMNS].equals(before[COLUMNS])


def test_one_point_per_session_never_sees_its_own_session() -> None:
    """The training shape: features at a session's date exclude that session and later ones."""
    patients, sessions = synth_cohort(40, 30, snapshots=10, seed=5)
    points = sessions[["patient_id", "date"]].rename(columns={"date": "as_of"})
    full = build(patients, sessions, points)
    rng = np.random.default_rng(5)
    for i in rng.choice(len(points), 25, replace=False):
        pid, day = points.iloc[i]
        past = sessions[(sessions["patient_id"] != pid) | (sessions["date"] < day)]
        one = build(patients, past, points.iloc[[i]])
        _same(full.loc[[points.index[i]]], one)


# --- one code path --------------------------------------------------------------------------------
def test_rest_path_equals_cohort_path_for_200_patients() -> None:
    patients, sessions = synth_cohort(200, 45, seed=11)
    as_of = START + pd.Timedelta(days=50)  # some sessions after it: the cohort path drops them
    patients = patients.assign(as_of=as_of)
    keys = pd.DataFrame({"patient_id": patients["patient_id"], "as_of": as_of})
    rng = np.random.default_rng(11)
    cands = _candidates(keys.loc[keys.index.repeat(3)].reset_index(drop=True), rng)
    cohort = build(patients, sessions, as_of)
    cohort_c = build(patients, sessions, keys, candidates=cands)
    by_pid = dict(tuple(sessions.groupby("patient_id", sort=False)))
    for i, row in enumerate(patients.to_dict("records")):
        pid = row["patient_id"]
        req = to_request(row, by_pid.get(pid, sessions.iloc[:0]), as_of)
        p1, s1 = request_to_frames(req)
        _same(cohort.iloc[[i]], build(p1, s1, req.as_of))
        k1 = pd.DataFrame({"patient_id": [pid], "as_of": [pd.Timestamp(req.as_of)]})
        c1 = cands[cands["patient_id"] == pid]
        _same(cohort_c[cohort_c["patient_id"] == pid], build(p1, s1, k1, candidates=c1))
        p2, s2 = requests_to_columns([req])  # the service's path: numpy columns, no DataFrames
        _same(cohort.iloc[[i]], build(p2, s2, req.as_of))
        _same(
            cohort_c[cohort_c["patient_id"] == pid],
            build(p2, s2, _arrays(k1), candidates=_arrays(c1)),
        )


def _arrays(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {c: frame[c].to_numpy() for c in frame.columns}


def test_dicts_of_arrays_equal_dataframes_for_a_whole_cohort() -> None:
    """`build` reads DataFrames and dicts of numpy arrays alike (features.table)."""
    patients, sessions = synth_cohort(120, 40, snapshots=5, seed=14, shuffle=True)
    rng = np.random.default_rng(14)
    points = _points(patients, rng, 3)
    cands = _candidates(points, rng)
    for as_of, c in ((points, None), (points, cands), (START + pd.Timedelta(days=30), None)):
        want = build(patients, sessions, as_of, candidates=c)
        got = build(
            _arrays(patients),
            _arrays(sessions),
            _arrays(as_of) if isinstance(as_of, pd.DataFrame) else as_of,
            candidates=None if c is None else _arrays(c),
        )
        _same(want, got)


def test_single_patient_frames_equal_cohort_with_snapshots_and_many_points() -> None:
    patients, sessions = synth_cohort(60, 50, snapshots=8, seed=12, shuffle=True)
    points = _points(patients, np.random.default_rng(12), 4)
    cohort = build(patients, sessions, points)
    for pid in patients["patient_id"].unique()[:30]:
        one = build(
            patients[patients["patient_id"] == pid],
            sessions[sessions["patient_id"] == pid],
            points[points["patient_id"] == pid],
        )
        _same(cohort[cohort["patient_id"] == pid], one)


def test_renaming_patients_and_shuffling_rows_change_no_feature() -> None:
    patients, sessions = synth_cohort(80, 40, snapshots=4, seed=13)
    rng = np.random.default_rng(13)
    points = _points(patients, rng, 3)
    cands = _candidates(points, rng)
    base = build(patients, sessions, points, candidates=cands)

    ids = patients["patient_id"].unique()
    new = {pid: f"x{int(v)}" for pid, v in zip(ids, rng.permutation(10_000), strict=False)}
    renamed = [f.assign(patient_id=f["patient_id"].map(new)) for f in (patients, sessions)]
    p2 = renamed[0].iloc[rng.permutation(len(patients))]
    s2 = renamed[1].iloc[rng.permutation(len(sessions))]
    pts2 = points.assign(patient_id=points["patient_id"].map(new))
    c2 = cands.assign(patient_id=cands["patient_id"].map(new))
    other = build(p2, s2, pts2, candidates=c2)
    assert list(other["patient_id"]) == list(base["patient_id"].map(new))
    _same(base.drop(columns="patient_id"), other.drop(columns="patient_id"))


def test_simulated_cohort_single_equals_cohort_and_no_leakage() -> None:
    from training.simulator import simulate_cohort

    patients, sessions = simulate_cohort(40, 6, 1)
    points = sessions[["patient_id", "date"]].rename(columns={"date": "as_of"}).drop_duplicates()
    cohort = build(patients, sessions, points)
    for pid in cohort["patient_id"].unique()[:20]:
        mine = sessions["patient_id"] == pid
        one = build(
            patients[patients["patient_id"] == pid],
            sessions[mine],
            points[points.patient_id == pid],
        )
        _same(cohort[cohort["patient_id"] == pid], one)
    rng = np.random.default_rng(1)
    for i in rng.choice(len(points), 10, replace=False):
        pid, day = points.iloc[i]
        past = sessions[(sessions["patient_id"] != pid) | (sessions["date"] < day)]
        _same(cohort.loc[[points.index[i]]], build(patients, past, points.iloc[[i]]))


# --- reference implementation -----------------------------------------------------------------
def _reference(s: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, float]:
    """Slow, obviously correct versions of some history features for one patient."""
    ae = s["adverse_event"].map({"none": 0, "mild": 1, "moderate": 2, "serious": 3})
    s = s.assign(res=(s["modality"] == "resistance").astype(int), tol=tolerated(s), ae=ae)
    # same-day sessions of one modality: ordered by content, as the pipeline does
    order = ["date", "res", *TIE_COLUMNS, "ae"]
    s = s[s["date"] < as_of].sort_values(order, kind="stable").reset_index(drop=True)
    w7 = s[s["date"] >= as_of - pd.Timedelta(days=7)]
    w28 = s[s["date"] >= as_of - pd.Timedelta(days=28)]
    att = s[s["attended"]]
    streak = 0
    for t in att["tol"].to_numpy()[::-1]:
        if t == 1:
            break
        streak += 1
    last5 = s.tail(5)
    rated = s[s["attended"] & s["rpe"].notna()].tail(5)
    slope = np.polyfit(rated.index, rated["rpe"], 1)[0] if len(rated) >= 3 else np.nan
    aer28 = w28[w28["modality"] == "aerobic"]
    per_modality: dict[str, float] = {}
    for m in ("aerobic", "resistance"):
        mine = s[s["modality"] == m]
        streak_m = 0
        for t in mine.loc[mine["attended"], "tol"].to_numpy()[::-1]:
            if t == 1:
                break
            streak_m += 1
        per_modality[f"{m}_intolerant_streak"] = float(streak_m)
        for w in (7, 14):
            win = mine[mine["date"] >= as_of - pd.Timedelta(days=w)]
            per_modality[f"{m}_moderate_ae_{w}d"] = float((win["ae"] >= 2).sum())
            per_modality[f"{m}_serious_ae_{w}d"] = float((win["ae"] == 3).sum())
        w14 = mine[mine["date"] >= as_of - pd.Timedelta(days=14)]
        att14 = w14[w14["attended"]]
        use_sets = (m == "resistance") & w14["planned_sets"].notna() & w14["completed_sets"].notna()
        done = np.where(use_sets, w14["completed_sets"], w14["completed_minutes"])
        plan = np.where(use_sets, w14["planned_sets"], w14["planned_minutes"])
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = pd.Series(np.clip(done / plan, 0, 1.5), index=w14.index)
        ratio = ratio[w14["attended"] & np.isfinite(ratio)]
        per_modality[f"{m}_n_planned_14d"] = float(len(w14))
        per_modality[f"{m}_attendance_rate_14d"] = w14["attended"].mean() if len(w14) else np.nan
        per_modality[f"{m}_completion_rate_14d"] = ratio.mean() if len(ratio) else np.nan
        per_modality[f"{m}_tolerated_rate_14d"] = att14["tol"].mean() if len(att14) else np.nan
    return per_modality | {
        "n_planned_7d": len(w7),
        "serious_ae_7d": float((w7["adverse_event"] == "serious").sum()),
        "moderate_ae_7d": float(w7["adverse_event"].isin(["moderate", "serious"]).sum()),
        "attendance_rate_28d": w28["attended"].mean() if len(w28) else np.nan,
        "rpe_mean_28d": w28.loc[w28["attended"], "rpe"].mean(),
        "tolerated_rate_last5": last5["tol"].mean(),
        "intolerant_streak": float(streak),
        "days_since_last_session": (as_of - att["date"].max()).days if len(att) else np.nan,
        "aerobic_pct_hrmax_mean_28d": aer28["planned_pct_hrmax"].mean(),
        "n_sessions_total": float(len(s)),
        "rpe_slope_last5": slope,
    }


def test_window_arithmetic_matches_a_pandas_reference() -> None:
    patients, sessions = synth_cohort(40, 40, snapshots=10, seed=21, shuffle=True)
    points = _points(patients, np.random.default_rng(21), 3)
    frame = build(patients, sessions, points)
    by_pid = dict(tuple(sessions.groupby("patient_id")))
    for row in frame.to_dict("records"):
        ref = _reference(by_pid[row["patient_id"]], row["as_of"])
        for name, want in ref.items():
            # completion ratios go through 2**-20 fixed point (features.history.SCALE)
            tol = 1e-6 if "completion" in name else 1e-9
            assert row[name] == pytest.approx(want, abs=tol, nan_ok=True), name
