"""Labelled examples for the two models (DESIGN.md section 3), built through `features.build`.

Tolerance: one example per attended session; the prediction point is the session's date, the
candidate is that week's plan with the session's modality. Adherence (attendance): one example per
*planned* session, label attended; the prediction point is the week start (what the clinic knows
when it prescribes), the candidate that week's plan with the session's modality. Per-session
attendance, not ">= 80% of the week's sessions attended", so the policy can weigh the expected
number of attended sessions (sessions x P(attend)) and frequency is not penalised by the label
itself (issue 10). The simulator's truth columns give the oracle probability on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import FEATURE_SET, build
from features.contract.dose import PLAN_COLUMNS
from features.labels import tolerated


@dataclass(frozen=True)
class Examples:
    """Feature matrix with keys, label and (when known) the oracle probability, row-aligned."""

    frame: pd.DataFrame  # patient_id, as_of, features..., label, oracle
    feature_columns: tuple[str, ...]

    @property
    def X(self) -> pd.DataFrame:
        return self.frame.loc[:, list(self.feature_columns)]

    @property
    def y(self) -> np.ndarray:
        return self.frame["label"].to_numpy(dtype=int)

    @property
    def oracle(self) -> np.ndarray:
        return self.frame["oracle"].to_numpy(dtype=float)

    def subset(self, mask: np.ndarray) -> Examples:
        return Examples(self.frame.loc[mask].reset_index(drop=True), self.feature_columns)


def assign_weeks(patients: pd.DataFrame, sessions: pd.DataFrame) -> pd.Series:
    """Week start of each session: the latest patient snapshot (clinic visit) on or before it."""
    starts = patients[["patient_id", "as_of"]].drop_duplicates().sort_values("as_of")
    keyed = sessions[["patient_id", "date"]].reset_index().sort_values("date")
    merged = pd.merge_asof(
        keyed, starts, left_on="date", right_on="as_of", by="patient_id", direction="backward"
    )
    return merged.set_index("index")["as_of"].reindex(sessions.index)


def week_plans(sessions: pd.DataFrame) -> pd.DataFrame:
    """Collapse each patient-week's planned sessions into the plan columns used as candidates."""
    s = sessions
    aer = s[s["modality"] == "aerobic"].groupby(["patient_id", "week"])
    res = s[s["modality"] == "resistance"].groupby(["patient_id", "week"])
    plan = pd.concat(
        {
            "aerobic_sessions": aer.size(),
            "aerobic_minutes": aer["planned_minutes"].mean(),
            "aerobic_pct_hrmax": aer["planned_pct_hrmax"].mean(),
            "resistance_sessions": res.size(),
            "resistance_sets": res["planned_sets"].mean(),
            "resistance_reps": res["planned_reps"].mean(),
            "resistance_pct_1rm": res["planned_pct_1rm"].mean(),
        },
        axis=1,
    )
    plan[["aerobic_sessions", "resistance_sessions"]] = (
        plan[["aerobic_sessions", "resistance_sessions"]].fillna(0).astype(int)
    )
    return plan.reset_index()


def _with_weeks(patients: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    s = sessions.copy()
    s["week"] = assign_weeks(patients, s)
    return s.dropna(subset=["week"])


def build_tolerance_examples(patients: pd.DataFrame, sessions: pd.DataFrame) -> Examples:
    """One row per attended session, label = tolerated, oracle = p_tolerate when simulated."""
    s = _with_weeks(patients, sessions)
    s["label"] = tolerated(s)
    plans = week_plans(s)
    att = s[s["attended"]].copy()
    att = att.merge(plans, on=["patient_id", "week"], how="left")
    cands = att[["patient_id", "date", "modality", *PLAN_COLUMNS]].rename(columns={"date": "as_of"})
    oracle = att["p_tolerate"].to_numpy() if "p_tolerate" in att else np.full(len(att), np.nan)
    return _label(patients, sessions, cands, att["label"].to_numpy(), oracle)


def build_adherence_examples(patients: pd.DataFrame, sessions: pd.DataFrame) -> Examples:
    """One row per planned session; label = attended, oracle = p_attend when simulated.

    The prediction point is the week start: attendance is predicted when the week is prescribed,
    so nothing of that week (not even an earlier session of it) is a feature.
    """
    s = _with_weeks(patients, sessions)
    s["label"] = s["attended"].astype(float)
    plans = week_plans(s)
    s = s.merge(plans, on=["patient_id", "week"], how="left")
    cands = s[["patient_id", "week", "modality", *PLAN_COLUMNS]].rename(columns={"week": "as_of"})
    oracle = s["p_attend"].to_numpy(dtype=float) if "p_attend" in s else np.full(len(s), np.nan)
    return _label(patients, sessions, cands, s["label"].to_numpy(), oracle)


def _label(
    patients: pd.DataFrame,
    sessions: pd.DataFrame,
    cands: pd.DataFrame,
    label: np.ndarray,
    oracle: np.ndarray,
) -> Examples:
    """Build features for each candidate row and attach label and oracle by position."""
    cands = cands.reset_index(drop=True)
    cands["_row"] = np.arange(len(cands))
    points = cands[["patient_id", "as_of"]].drop_duplicates().reset_index(drop=True)
    frame = build(patients, sessions, points, candidates=cands)
    rows = frame["_row"].to_numpy(dtype=int) if "_row" in frame else np.arange(len(frame))
    frame = frame.assign(label=np.asarray(label, dtype=float)[rows], oracle=oracle[rows])
    frame = frame.dropna(subset=["label"]).reset_index(drop=True)
    frame["label"] = frame["label"].astype(int)
    return Examples(frame, tuple(FEATURE_SET.columns))
