"""A week's plan as the simulator reads it: required columns, whole-number session counts,
doses clipped to what a person can do, and the attendance burden of the week."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract.dose import PLAN_COLUMNS, VIGOROUS_PCT_HRMAX


def require_plan_columns(plans: pd.DataFrame) -> None:
    missing = [c for c in ("patient_id", *PLAN_COLUMNS) if c not in plans.columns]
    if missing:
        raise ValueError(f"plans lack columns {missing}")


def clean_plan(out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Session counts to whole numbers (0-7), doses clipped to what a person can do, and the
    minutes of a resistance session; a modality with no sessions, minutes or sets is none."""
    for col in ("aerobic_sessions", "resistance_sessions"):
        out[col] = np.clip(np.round(np.nan_to_num(out[col])), 0, 7).astype(int)
    a = out["aerobic_sessions"] > 0
    a &= np.nan_to_num(out["aerobic_minutes"]) >= 1
    r = out["resistance_sessions"] > 0
    r &= np.nan_to_num(out["resistance_sets"]) >= 1
    out["aerobic_sessions"] = np.where(a, out["aerobic_sessions"], 0)
    out["resistance_sessions"] = np.where(r, out["resistance_sessions"], 0)
    for col, on in (
        ("aerobic_pct_hrmax", a),
        ("resistance_pct_1rm", r),
        ("resistance_reps", r),
    ):
        if np.isnan(out[col][on]).any():
            raise ValueError(f"plans with sessions need {col}")
    out["aerobic_minutes"] = np.clip(out["aerobic_minutes"], 1, 180)
    out["aerobic_pct_hrmax"] = np.clip(out["aerobic_pct_hrmax"], 30, 100)
    out["resistance_sets"] = np.clip(np.round(np.nan_to_num(out["resistance_sets"])), 1, 10)
    out["resistance_reps"] = np.clip(np.round(out["resistance_reps"]), 1, 30)
    out["resistance_pct_1rm"] = np.clip(out["resistance_pct_1rm"], 10, 100)
    out["resistance_minutes"] = np.round(
        10 + 8 * out["resistance_sets"] + 0.5 * (out["resistance_reps"] - 10)
    )
    return out


def weekly_burden(plan: dict[str, np.ndarray]) -> np.ndarray:
    """(weekly moderate-equivalent minutes)/150 - 1, the attendance burden term of a plan."""
    vig = plan["aerobic_pct_hrmax"] >= VIGOROUS_PCT_HRMAX
    return (
        plan["aerobic_sessions"] * plan["aerobic_minutes"] * np.where(vig, 2.0, 1.0)
        + plan["resistance_sessions"] * plan["resistance_minutes"]
    ) / 150.0 - 1.0
