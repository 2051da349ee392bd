"""Candidate-dose features: the week plan asked about, and how it compares with the recent past.

Both models take the dose as input so the policy can ask "what if" for any plan. The relative
features (dose minus, or over, what the patient did in the last 28 days) let a model learn
"more than they are used to" effects; each increases with its dose, so a monotone constraint on
the dose can be put on them too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import registry
from features.contract.dose import PLAN_COLUMNS as PLAN
from features.contract.dose import VIGOROUS_MINUTE_FACTOR, VIGOROUS_PCT_HRMAX
from features.contract.vocab import MODALITIES
from features.encode import column, to_float, vocab_codes
from features.labels import AEROBIC, RESISTANCE

# Plan, derived and relative columns, by literal name, unit, meaning and monotone constraint:
# features/registry.py. Tolerance can only fall as the dose ones grow (relative ones included:
# each increases with its dose).
COLUMNS: tuple[str, ...] = registry.names("candidate")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(len(num), np.nan)
    ok = np.isfinite(den) & (den > 0)
    return np.divide(num, den, out=out, where=ok)


def _zero_nan(values: np.ndarray) -> np.ndarray:
    """`np.nan_to_num` (NaN -> 0, infinities -> the largest floats), without its cost when
    every value is finite (the usual case: a plan's session counts)."""
    return values if np.isfinite(values).all() else np.nan_to_num(values)


def absent_modality_as_missing(plan: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A modality with no sessions has no dose: minutes, intensity, sets and reps are NaN, as in
    training (`week_plans` averages over no sessions), whether the plan wrote 0 or NaN. The
    search writes 0 for an absent modality; fed as 0, a model read "0% 1RM, 0 sets" (a dose it
    never saw) where it had learnt the missing branch."""
    out = dict(plan)
    for sessions, doses in (
        ("aerobic_sessions", ("aerobic_minutes", "aerobic_pct_hrmax")),
        ("resistance_sessions", ("resistance_sets", "resistance_reps", "resistance_pct_1rm")),
    ):
        off = ~(plan[sessions] > 0)  # 0 or NaN
        if off.any():
            for c in doses:
                out[c] = np.where(off, np.nan, plan[c])
    return out


def candidate_features(
    candidates: pd.DataFrame | None, n: int, recent: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Plan, derived and relative columns for `n` rows; all NaN without candidates.

    `recent` holds the 28-day history columns already broadcast to the candidate rows.
    """
    if candidates is None:
        return {c: np.full(n, np.nan) for c in COLUMNS}
    plan = absent_modality_as_missing({c: to_float(column(candidates, c), n) for c in PLAN})
    mod = vocab_codes(column(candidates, "modality"), MODALITIES, n)  # -1: whole-week row
    aer, res = mod == AEROBIC, mod == RESISTANCE
    a_sessions = _zero_nan(plan["aerobic_sessions"])
    weekly = np.where(a_sessions == 0, 0.0, a_sessions * plan["aerobic_minutes"])
    vigorous = plan["aerobic_pct_hrmax"] >= VIGOROUS_PCT_HRMAX
    intensity = np.where(aer, plan["aerobic_pct_hrmax"], np.nan)
    intensity = np.where(res, plan["resistance_pct_1rm"], intensity)
    minutes = np.where(aer, plan["aerobic_minutes"], np.nan)
    sets = np.where(res, plan["resistance_sets"], np.nan)
    usual_intensity = np.where(
        aer, recent["aerobic_pct_hrmax_mean_28d"], recent["resistance_pct_1rm_mean_28d"]
    )
    out = dict(plan)
    out |= {
        "weekly_aerobic_minutes": weekly,
        "weekly_modeq_minutes": np.where(vigorous, VIGOROUS_MINUTE_FACTOR * weekly, weekly),
        "total_sessions": a_sessions + _zero_nan(plan["resistance_sessions"]),
        "is_aerobic": np.where(aer, 1.0, np.where(res, 0.0, np.nan)),
        "session_minutes": minutes,
        "session_intensity": intensity,
        "session_sets": sets,
        "session_intensity_vs_recent": intensity - usual_intensity,
        "session_minutes_vs_recent": _ratio(minutes, recent["aerobic_minutes_mean_28d"]),
        "session_sets_vs_recent": sets - recent["resistance_sets_mean_28d"],
        "weekly_aerobic_minutes_vs_recent": _ratio(weekly, recent["aerobic_weekly_minutes_28d"]),
        "aerobic_pct_hrmax_vs_recent": plan["aerobic_pct_hrmax"]
        - recent["aerobic_pct_hrmax_mean_28d"],
        "resistance_pct_1rm_vs_recent": plan["resistance_pct_1rm"]
        - recent["resistance_pct_1rm_mean_28d"],
    }
    return {c: out[c] for c in COLUMNS}
