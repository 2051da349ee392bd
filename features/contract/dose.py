"""The dose vocabulary, written once: a week plan's columns, the intensity bands, the RPE band of
each, the moderate-equivalent and MET factors, and the rep scheme of a resistance load.

Labels, candidate features, the simulator, the guideline kernel, the policy and the evaluation all
read these; none of them writes its own copy. Sources: `shared/reference/guidelines.md` section 5
(ACSM GETP 10 (2018) and Garber 2011 intensity table; PAG 2018 volume; ACSM 2009 resistance).

Settled here (issue #12): the vigorous RPE band is 14-17 (the reference table; the labels, the
simulator and the rule file already used it), not the 14-16 the policy once prescribed.
"""

from __future__ import annotations

import numpy as np

# --- a week plan as point doses (per session; 0 sessions = no dose of that modality) -----------
PLAN_COLUMNS: tuple[str, ...] = (
    "aerobic_sessions",
    "aerobic_minutes",
    "aerobic_pct_hrmax",
    "resistance_sessions",
    "resistance_sets",
    "resistance_reps",
    "resistance_pct_1rm",
)
# The same fields as optional patients-table columns: a progression reference (features.contract).
REFERENCE_COLUMNS: tuple[str, ...] = tuple(f"ref_{c}" for c in PLAN_COLUMNS)

# --- aerobic intensity (%HRmax), ACSM GETP 10 / Garber 2011 (guidelines.md section 5) ----------
LIGHT_PCT_HRMAX = 57.0  # light 57-63 (below 57 counts as light too)
MODERATE_PCT_HRMAX = 64.0  # moderate 64-76
VIGOROUS_PCT_HRMAX = 77.0  # vigorous 77-95
NEAR_MAX_PCT_HRMAX = 96.0  # near-maximal >= 96
AEROBIC_EDGES = np.array([MODERATE_PCT_HRMAX, VIGOROUS_PCT_HRMAX, NEAR_MAX_PCT_HRMAX])

# --- resistance intensity (%1RM): light < 50 <= moderate < 70 <= vigorous -----------------------
# Garber 2011: 40-50% 1RM is "very light-light" for beginners; 60-70% for novice-intermediate,
# 60-80% in the ACSM 2009 progression models (guidelines.md section 5).
MODERATE_PCT_1RM = 50.0
VIGOROUS_PCT_1RM = 70.0
RESISTANCE_EDGES = np.array([MODERATE_PCT_1RM, VIGOROUS_PCT_1RM])

# --- perceived exertion (Borg 6-20), one band per intensity band above ---------------------------
RPE_SCALE_MIN, RPE_SCALE_MAX = 6, 20
RPE_BANDS: tuple[tuple[int, int], ...] = (
    (9, 11),  # light
    (12, 13),  # moderate
    (14, 17),  # vigorous
    (18, 19),  # near-maximal (">= 18"; 20 is maximal exertion)
)
RPE_LOW = np.array([lo for lo, _ in RPE_BANDS], dtype=float)
RPE_HIGH = np.array([hi for _, hi in RPE_BANDS], dtype=float)

# --- volume ---------------------------------------------------------------------------------------
VIGOROUS_MINUTE_FACTOR = 2.0  # PAG 2018: one vigorous minute counts as two moderate minutes
TARGET_AEROBIC_MINUTES = 150.0  # Garber 2011 / PAG 2018: >= 150 min/week moderate
TARGET_RESISTANCE_SESSIONS = 2  # Garber 2011: 2-3 days/week
# MET of an aerobic minute by %HRmax band (guidelines.md section 5, ACSM GETP 10 / Garber 2011:
# light 57-63% HRmax = 2-2.9 METs, moderate 64-76% = 3-5.9, vigorous 77-95% = >= 6). We take the
# middle of the light and moderate ranges and the lower edge of vigorous (no upper edge given);
# below 57% HRmax ("very light", below the table) counts at the light range's lower edge, 2.0.
MET_BY_BAND = (
    (LIGHT_PCT_HRMAX, 2.0),
    (MODERATE_PCT_HRMAX, 2.5),
    (VIGOROUS_PCT_HRMAX, 4.5),
    (np.inf, 6.0),
)  # (upper edge, MET)
# %HRmax -> fraction of VO2 reserve (the same intensity table): 64% HRmax ~ 40% VO2R, 77% ~ 60%,
# 95% ~ 89%; linear between, 0 at rest.
VO2R_AT_MODERATE = 0.40
VO2R_PCT_PER_PCT_HRMAX = 20.0 / 13.0  # points of %VO2R per point of %HRmax

# --- rep scheme of a resistance load ------------------------------------------------------------
# Garber 2011: beginners at 40-50% 1RM do 10-15 (up to 20) reps; ACSM 2009: 8-12 reps at 60-80%.
# Between the two the switch at 65% 1RM is a project choice (the middle of 60-70%).
REPS_SWITCH_PCT_1RM = 65.0
REPS_LIGHT, REPS_MODERATE, REPS_HEAVY = (12, 15), (10, 12), (8, 12)


def aerobic_rpe_band(pct_hrmax: float) -> tuple[int, int]:
    """RPE band (Borg 6-20) to prescribe with an aerobic intensity (%HRmax)."""
    return RPE_BANDS[int(np.searchsorted(AEROBIC_EDGES, pct_hrmax, side="right"))]


def target_rpe_band(modality: object, pct: object) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) RPE band for planned %HRmax (aerobic) or %1RM (anything else); NaN if no pct."""
    pct_arr = np.asarray(pct, dtype=float)
    aerobic = np.asarray(modality) == "aerobic"
    idx = np.where(
        aerobic,
        np.searchsorted(AEROBIC_EDGES, pct_arr, side="right"),
        np.searchsorted(RESISTANCE_EDGES, pct_arr, side="right"),
    )
    missing = np.isnan(pct_arr)
    return np.where(missing, np.nan, RPE_LOW[idx]), np.where(missing, np.nan, RPE_HIGH[idx])


def vo2_reserve_fraction(pct_hrmax: np.ndarray) -> np.ndarray:
    """Fraction of VO2 reserve at a %HRmax (linear through the table's anchors, 0 at rest)."""
    pct = np.asarray(pct_hrmax, dtype=float)
    return np.clip(
        VO2R_AT_MODERATE + (pct - MODERATE_PCT_HRMAX) * VO2R_PCT_PER_PCT_HRMAX / 100, 0, 1
    )


def resistance_rep_range(pct_1rm: float) -> tuple[int, int]:
    """Reps per set to prescribe with a resistance load (%1RM)."""
    if pct_1rm < MODERATE_PCT_1RM:
        return REPS_LIGHT
    return REPS_MODERATE if pct_1rm < REPS_SWITCH_PCT_1RM else REPS_HEAVY
