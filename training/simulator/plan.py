"""The open-loop, data-generating prescription: guideline dose with random variation.

Doses vary at random per patient-week around Campbell 2019's generic dose (3 x 30 min moderate
aerobic, 2 x 2 sets of 8-15 reps resistance) so that dose-response is learnable from the data; the
clinic holds anyone who meets a hold condition and gives ECOG >= 3 a light supervised dose.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.sim_params import PARAMS, DefaultPlan
from training.simulator.rules import PLAN_COLUMNS, hold_mask, serious_ae_within


def empty_plan(patient_ids: pd.Series | np.ndarray) -> pd.DataFrame:
    """No sessions for anyone (the zero-session policy, and what a hold looks like)."""
    out = pd.DataFrame({"patient_id": np.asarray(patient_ids, dtype=object)})
    for col in PLAN_COLUMNS:
        out[col] = 0.0
    return out


def default_week_plan(
    snapshot: pd.DataFrame,
    rng: np.random.Generator,
    history: pd.DataFrame | None = None,
    params: DefaultPlan | None = None,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per patient of `snapshot`: patient_id and PLAN_COLUMNS (0 sessions = hold).

    `history` (sessions before the snapshot date) is only used for the serious-AE-in-7-days hold.
    `previous` is last week's default plan: a patient who had sessions keeps their booked weekly
    schedule (sessions per modality) with probability `schedule_keep_p`; minutes, intensity,
    sets and reps are drawn afresh every week. Every random draw has a fixed shape, so the
    stream does not depend on who is held or kept.
    """
    p = params or PARAMS.plan
    n = len(snapshot)
    a_sess = rng.choice(np.asarray(p.aerobic_sessions), size=n, p=np.asarray(p.aerobic_sessions_p))
    a_min = p.aerobic_minutes_mean + p.aerobic_minutes_sd * rng.standard_normal(n)
    a_min = np.clip(np.round(a_min / 5) * 5, *p.aerobic_minutes_range)
    a_pct = np.clip(
        np.round(p.aerobic_pct_mean + p.aerobic_pct_sd * rng.standard_normal(n)),
        *p.aerobic_pct_range,
    )
    r_sess = rng.choice(
        np.asarray(p.resistance_sessions), size=n, p=np.asarray(p.resistance_sessions_p)
    )
    r_sets = rng.choice(np.asarray(p.resistance_sets), size=n, p=np.asarray(p.resistance_sets_p))
    r_reps = rng.integers(p.resistance_reps_range[0], p.resistance_reps_range[1] + 1, size=n)
    r_pct = np.clip(
        np.round(p.resistance_pct_mean + p.resistance_pct_sd * rng.standard_normal(n)),
        *p.resistance_pct_range,
    )
    light_min = np.round(rng.uniform(*p.light_aerobic_minutes, size=n) / 5) * 5
    light_pct = np.round(rng.uniform(*p.light_aerobic_pct, size=n))
    light_r_pct = np.round(rng.uniform(*p.light_resistance_pct, size=n))

    u_keep = rng.random(n)

    light = pd.to_numeric(snapshot["ecog"], errors="coerce").to_numpy(float) >= 3
    if previous is not None and n:
        prev = previous.set_index("patient_id").reindex(snapshot["patient_id"].to_numpy())
        prev_a = np.nan_to_num(prev["aerobic_sessions"].to_numpy(float))
        prev_r = np.nan_to_num(prev["resistance_sessions"].to_numpy(float))
        keep = (u_keep < p.schedule_keep_p) & (prev_a + prev_r > 0) & ~light
        a_sess = np.where(keep, prev_a, a_sess)
        r_sess = np.where(keep, prev_r, r_sess)
    a_sess = np.where(light, p.light_aerobic_sessions, a_sess)
    a_min = np.where(light, light_min, a_min)
    a_pct = np.where(light, light_pct, a_pct)
    r_sess = np.where(light, 1, r_sess)
    r_sets = np.where(light, 1, r_sets)
    r_reps = np.where(light, 10, r_reps)
    r_pct = np.where(light, light_r_pct, r_pct)

    as_of = pd.Timestamp(snapshot["as_of"].iloc[0]) if n else pd.Timestamp(0)
    serious = serious_ae_within(history, snapshot["patient_id"], as_of) if n else np.zeros(0, bool)
    hold = hold_mask(snapshot, serious)
    out = pd.DataFrame(
        {
            "patient_id": snapshot["patient_id"].to_numpy(dtype=object),
            "aerobic_sessions": a_sess.astype(float),
            "aerobic_minutes": a_min,
            "aerobic_pct_hrmax": a_pct,
            "resistance_sessions": r_sess.astype(float),
            "resistance_sets": r_sets.astype(float),
            "resistance_reps": r_reps.astype(float),
            "resistance_pct_1rm": r_pct,
        }
    )
    out.loc[hold, list(PLAN_COLUMNS)] = 0.0
    no_res = out["resistance_sessions"] == 0
    out.loc[no_res, ["resistance_sets", "resistance_reps", "resistance_pct_1rm"]] = 0.0
    return out
