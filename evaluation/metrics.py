"""Outcome metrics of the closed loop, per patient first, then per arm, subgroup and difference.

Every arm metric is a ratio of two sums over patients (`METRICS`), so the same definition gives
the point estimate and each bootstrap replicate: a replicate reweights patients with multinomial
counts, the same counts for every arm (the arms ran on the same simulated patients with common
random numbers, so differences are paired).

Dose is counted by what it is (issue 10): aerobic volume in MET-minutes with the MET of the
%HRmax band (`MET_BY_BAND`), so a light minute counts as light; resistance as volume-load (completed
sets x reps x %1RM / 100, "reps at 100% 1RM"), reported separately.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract.dose import (
    MET_BY_BAND,
    MODERATE_PCT_HRMAX,
    TARGET_RESISTANCE_SESSIONS,
)
from features.contract.dose import TARGET_AEROBIC_MINUTES as TARGET_MODERATE_MINUTES

SUBGROUPS = ("on_chemotherapy", "stage_iv_or_palliative", "sarcopenic", "ecog_2", "age_70_plus")


def met_of(pct_hrmax: np.ndarray | pd.Series) -> np.ndarray:
    """MET of an aerobic minute at each %HRmax (NaN stays NaN)."""
    pct = np.asarray(pct_hrmax, dtype=float)
    edges = np.array([e for e, _ in MET_BY_BAND[:-1]])
    mets = np.array([m for _, m in MET_BY_BAND])
    out = mets[np.searchsorted(edges, np.nan_to_num(pct, nan=0.0), side="right")]
    return np.where(np.isnan(pct), np.nan, out)


@dataclass(frozen=True)
class Metric:
    """scale x sum(numerator) / sum(denominator) over patients; denominator None = plain sum."""

    numerator: str
    denominator: str | None
    scale: float = 1.0
    per_week: bool = False


METRICS: dict[str, Metric] = {
    "vo2peak_change": Metric("vo2_change", "one"),
    "strength_change_pct": Metric("strength_change_pct", "one"),
    "at_target": Metric("at_target", "target_eligible"),
    "at_target_delivered": Metric("at_target_delivered", "target_eligible"),
    "ae_moderate_or_serious_per_1000": Metric("ae_modser", "attended", 1000.0),
    "ae_moderate_or_serious_per_100_patients": Metric("ae_modser", "one", 100.0),
    "dropout": Metric("dropped", "one"),
    "attendance": Metric("attended", "planned"),
    "tolerated_share": Metric("tolerated", "attended"),
    "aerobic_met_min_per_week": Metric("met_min", "one", per_week=True),
    "moderate_minutes_per_week": Metric("moderate_min", "one", per_week=True),
    "resistance_volume_load_per_week": Metric("volume_load", "one", per_week=True),
    "zero_stimulus_weeks": Metric("zero_stimulus_weeks", "weeks_booked"),
    "guideline_violations": Metric("violations", None),
    "patients": Metric("one", None),
}


def session_outcomes(sessions: pd.DataFrame, tolerated: np.ndarray) -> pd.DataFrame:
    """Per-patient sums over the simulated sessions (what was planned, attended, done)."""
    s = sessions
    att = s["attended"].astype(bool).to_numpy()
    aer = (s["modality"] == "aerobic").to_numpy()
    minutes = s["completed_minutes"].fillna(0).to_numpy(float)
    pct = s["planned_pct_hrmax"].to_numpy(float)
    met_min = np.where(att & aer, minutes * np.nan_to_num(met_of(pct)), 0.0)
    moderate = np.where(att & aer & (np.nan_to_num(pct) >= MODERATE_PCT_HRMAX), minutes, 0.0)
    load = np.where(
        att & ~aer,
        s["completed_sets"].fillna(0).to_numpy(float)
        * s["planned_reps"].fillna(0).to_numpy(float)
        * s["planned_pct_1rm"].fillna(0).to_numpy(float)
        / 100.0,
        0.0,
    )
    ae = s["adverse_event"].isin(["moderate", "serious"]).to_numpy() & att
    frame = pd.DataFrame(
        {
            "patient_id": s["patient_id"].astype(str).to_numpy(),
            "planned": 1.0,
            "attended": att.astype(float),
            "tolerated": np.where(att, np.nan_to_num(tolerated), 0.0),
            "ae_modser": ae.astype(float),
            "met_min": met_min,
            "moderate_min": moderate,
            "volume_load": load,
        }
    )
    return frame.groupby("patient_id").sum()


def last_week_targets(log: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Per patient: eligible for the target (no hold/refer in the last week), at the target as
    prescribed (>= 150 min at >= 64% HRmax and >= 2 resistance sessions, delivered point dose)
    and as delivered (attended sessions of the last week)."""
    last = log[log["week"] == log["week"].max()].set_index("patient_id")
    eligible = last["decision"] == "allowed"
    moderate = np.where(
        last["aerobic_pct_hrmax"] >= MODERATE_PCT_HRMAX,
        last["aerobic_sessions"] * last["aerobic_minutes"],
        0.0,
    )
    hit = (moderate >= TARGET_MODERATE_MINUTES) & (
        last["resistance_sessions"] >= TARGET_RESISTANCE_SESSIONS
    )
    s = sessions[(sessions["date"] >= log["week"].max()) & sessions["attended"].astype(bool)]
    aer = s[(s["modality"] == "aerobic") & (s["planned_pct_hrmax"] >= MODERATE_PCT_HRMAX)]
    done_min = aer.groupby(aer["patient_id"].astype(str))["completed_minutes"].sum()
    res = s[s["modality"] == "resistance"]
    done_res = res.groupby(res["patient_id"].astype(str)).size()
    done = (done_min.reindex(last.index, fill_value=0) >= TARGET_MODERATE_MINUTES) & (
        done_res.reindex(last.index, fill_value=0) >= TARGET_RESISTANCE_SESSIONS
    )
    return pd.DataFrame(
        {
            "target_eligible": eligible.astype(float),
            "at_target": (hit & eligible).astype(float),
            "at_target_delivered": (done & eligible).astype(float),
        },
        index=last.index,
    )


def weekly_stimulus(log: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Per patient: booked weeks (not hold/refer) and booked weeks with no attended session at
    or above moderate intensity of either modality (no fitness stimulus)."""
    booked = log[log["decision"] == "allowed"][["patient_id", "week"]].copy()
    s = sessions[sessions["attended"].astype(bool)]
    stim = s[
        ((s["modality"] == "aerobic") & (s["planned_pct_hrmax"] >= MODERATE_PCT_HRMAX))
        | ((s["modality"] == "resistance") & (s["planned_pct_1rm"] >= 50.0))
    ]
    first = pd.Timestamp(log["week"].min())
    week_of = first + pd.to_timedelta(7 * ((stim["date"] - first).dt.days // 7), unit="D")
    hit = set(zip(stim["patient_id"].astype(str), week_of, strict=True))
    booked["zero"] = [
        (p, pd.Timestamp(w)) not in hit
        for p, w in zip(booked["patient_id"], booked["week"], strict=True)
    ]
    g = booked.groupby("patient_id")
    return pd.DataFrame({"weeks_booked": g.size(), "zero_stimulus_weeks": g["zero"].sum()})


def patient_frame(
    baseline: pd.DataFrame,
    final: pd.DataFrame,
    log: pd.DataFrame,
    sessions: pd.DataFrame,
    tolerated: np.ndarray,
) -> pd.DataFrame:
    """One row per patient: outcomes, dose delivered, safety, and subgroup flags.

    `baseline`: patient_id plus subgroup flags (SUBGROUPS) and true vo2/strength at enrolment;
    `final`: patient_id, true vo2/strength at the end, dropped (bool).
    """
    base = baseline.set_index("patient_id")
    fin = final.set_index("patient_id").reindex(base.index)
    out = pd.DataFrame(index=base.index)
    out["one"] = 1.0
    out["vo2_change"] = fin["vo2"] - base["vo2"]
    out["strength_change_pct"] = 100.0 * (fin["strength"] / base["strength"] - 1.0)
    out["dropped"] = fin["dropped"].astype(float)
    sess = session_outcomes(sessions, tolerated).reindex(base.index, fill_value=0.0)
    out = out.join(sess)
    out = out.join(last_week_targets(log, sessions).reindex(base.index, fill_value=0.0))
    out = out.join(weekly_stimulus(log, sessions).reindex(base.index, fill_value=0.0))
    out["violations"] = log.groupby("patient_id")["violation"].sum().reindex(base.index).fillna(0)
    for g in SUBGROUPS:
        out[g] = base[g].astype(bool)
    return out


def arm_metrics(frame: pd.DataFrame, weeks: int) -> dict[str, float]:
    """Every metric of one arm (or one subgroup of it)."""
    return {name: _point(frame, m, weeks) for name, m in METRICS.items()}


def _point(frame: pd.DataFrame, m: Metric, weeks: int) -> float:
    num = float(frame[m.numerator].sum())
    den = 1.0 if m.denominator is None else float(frame[m.denominator].sum())
    scale = m.scale / (weeks if m.per_week else 1)
    return scale * num / den if den else float("nan")


def bootstrap_counts(n: int, replicates: int, seed: int) -> np.ndarray:
    """replicates x n multinomial resampling counts (each row: n patients drawn with
    replacement), shared by every arm so that differences are paired."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=replicates).astype(float)


def _replicates(
    frame: pd.DataFrame, m: Metric, weeks: int, counts: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    w = counts[:, mask]
    num = w @ frame[m.numerator].to_numpy(float)[mask]
    if m.denominator is None:
        den = np.ones(len(w))
    else:
        den = w @ frame[m.denominator].to_numpy(float)[mask]
    scale = m.scale / (weeks if m.per_week else 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return scale * num / den


def paired_difference(
    arm: pd.DataFrame,
    reference: pd.DataFrame,
    weeks: int,
    counts: np.ndarray,
    mask: np.ndarray | None = None,
    level: float = 0.95,
) -> dict[str, dict[str, float]]:
    """arm minus reference for every metric: point estimate and percentile bootstrap interval.

    Both frames hold the same patients in the same order (checked); `mask` restricts to a
    subgroup, which is resampled with the whole cohort (its size varies across replicates).
    """
    if not arm.index.equals(reference.index):
        raise ValueError("paired difference needs the same patients in the same order")
    mask = np.ones(len(arm), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    out = {}
    for name, m in METRICS.items():
        if name == "patients":
            continue
        est = _point(arm[mask], m, weeks) - _point(reference[mask], m, weeks)
        reps = _replicates(arm, m, weeks, counts, mask) - _replicates(
            reference, m, weeks, counts, mask
        )
        reps = reps[np.isfinite(reps)]
        low, high = (
            (float(np.percentile(reps, lo_q)), float(np.percentile(reps, hi_q)))
            if len(reps)
            else (float("nan"), float("nan"))
        )
        out[name] = {"estimate": est, "low": low, "high": high}
    return out


def trajectories(log: pd.DataFrame) -> dict[str, list[float]]:
    """Weekly mean prescribed dose among patients allowed to exercise: aerobic MET-min,
    resistance sessions, %HRmax (of those with aerobic sessions)."""
    allowed = log[log["decision"] == "allowed"].copy()
    allowed["met_min"] = (
        allowed["aerobic_sessions"]
        * allowed["aerobic_minutes"]
        * np.nan_to_num(met_of(allowed["aerobic_pct_hrmax"]))
    )
    allowed["pct"] = allowed["aerobic_pct_hrmax"].where(allowed["aerobic_sessions"] > 0)
    g = allowed.groupby("week")
    weeks = sorted(log["week"].unique())
    return {
        "week": list(range(1, len(weeks) + 1)),
        "met_min": [float(x) for x in g["met_min"].mean().reindex(weeks)],
        "resistance_sessions": [float(x) for x in g["resistance_sessions"].mean().reindex(weeks)],
        "pct_hrmax": [float(x) for x in g["pct"].mean().reindex(weeks)],
    }
