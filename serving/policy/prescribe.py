"""A chosen week plan as the contract's Prescription, the decision label, the final safety gate."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from features.contract.dose import PLAN_COLUMNS
from features.contract.dose import aerobic_rpe_band as _rpe_band
from features.contract.dose import resistance_rep_range as _rep_range
from features.contract.rest import (
    AerobicDose,
    IntRange,
    Prescription,
    ProgressionReference,
    Range,
    ResistanceDose,
)
from serving.guidelines import kernel as gk
from serving.policy.config import PolicyConfig
from serving.policy.options import _clip
from serving.policy.record import _band_middle, _f


def plan_to_prescription(
    plan: np.ndarray, result: gk.KernelResult, cfg: PolicyConfig
) -> Prescription:
    """A week plan as a Prescription: each intensity band is centred on the plan's intensity
    (what a patient aims at is the middle of the band), clipped into the envelope."""
    env = result.envelope
    a_s, a_m, a_p, r_s, r_sets, _r_reps, r_p = (float(x) for x in plan)
    aerobic = resistance = None
    if a_s >= 1 and a_m > 0:
        aerobic = _aerobic_dose(
            a_s, a_m, a_p, env.aerobic_pct_hrmax_min, env.aerobic_pct_hrmax_max, cfg.hrmax_band
        )
    if r_s >= 1 and r_sets >= 1:
        resistance = _resistance_dose(
            r_s, r_sets, r_p, env.resistance_pct_1rm_min, env.resistance_pct_1rm_max,
            env.resistance_reps_min, env.resistance_reps_max, cfg.one_rm_band,
        )  # fmt: skip
    return Prescription(
        aerobic=aerobic, resistance=resistance, restrictions=list(result.restrictions)
    )


# The dose objects are pure functions of a few numbers and immutable (frozen models of ints and
# frozen ranges), so equal doses share one object: a cohort has few distinct doses, and building
# five validated models per patient was a sixth of batch scoring's CPU. The Prescription itself
# (its restrictions list) is built per patient.
@lru_cache(maxsize=8192)
def _aerobic_dose(
    sessions: float, minutes: float, pct: float, lo_env: float, hi_env: float, band: float
) -> AerobicDose:
    half = band / 2
    lo = max(lo_env, pct - half)
    hi = min(hi_env, pct + half)
    rpe = _rpe_band(pct)
    return AerobicDose(
        sessions_per_week=int(sessions),
        minutes_per_session=round(minutes),
        intensity_pct_hrmax=Range(low=math.ceil(lo), high=math.floor(max(hi, lo))),
        rpe=IntRange(low=rpe[0], high=rpe[1]),
    )


@lru_cache(maxsize=8192)
def _resistance_dose(
    sessions: float,
    sets: float,
    pct: float,
    lo_env: float,
    hi_env: float,
    reps_min: float,
    reps_max: float,
    band: float,
) -> ResistanceDose:
    half = band / 2
    lo = max(lo_env, pct - half)
    hi = min(hi_env, pct + half)
    reps = _rep_range(pct)
    reps = (max(reps[0], reps_min), min(reps[1], reps_max))
    return ResistanceDose(
        sessions_per_week=int(sessions),
        sets=int(sets),
        reps=IntRange(low=min(reps), high=max(reps)),
        intensity_pct_1rm=Range(low=math.ceil(lo), high=math.floor(max(hi, lo))),
    )


def decide(plan: np.ndarray, facts: dict[str, Any]) -> str:
    """progress / maintain / regress relative to the current prescription (none: progress).

    Intensities compare like with like: the plan's point dose is the middle of the band it is
    prescribed as, so it is compared with the middle of the current band (not its top, which
    would call an unchanged band a regression)."""
    cur = np.array(
        [
            _f(facts.get("rx_aerobic_sessions"), 0.0),
            _f(facts.get("rx_aerobic_minutes"), 0.0),
            _band_middle(facts, "rx_aerobic_pct_hrmax"),
            _f(facts.get("rx_resistance_sessions"), 0.0),
            _f(facts.get("rx_resistance_sets"), 0.0),
            _band_middle(facts, "rx_resistance_pct_1rm"),
        ]
    )
    if not cur.any():
        return "progress"
    new = np.asarray(plan, dtype=float)[[0, 1, 2, 3, 4, 6]]
    # same dose within rounding: whole sessions and sets, minutes to 0.5, intensities to one
    # percentage point (band middles are whole or half percents)
    same = np.array([0.0, 0.5, 1.0, 0.0, 0.0, 1.0]) + 1e-9
    if np.all(np.abs(new - cur) <= same):
        return "maintain"
    if np.all(new >= cur - same):
        return "progress"
    return "regress"


_REFERENCE_BOUNDS = (14, 180, 100, 14, 10, 30, 100)  # the contract's ProgressionReference
_REFERENCE_INTS = (0, 3, 4, 5)


def progression_reference(reference: np.ndarray) -> ProgressionReference:
    """The reference as the contract's `progression_reference` (whole sessions, sets and reps;
    inside the field bounds)."""
    out: dict[str, float | int] = {}
    for j, (col, hi) in enumerate(zip(PLAN_COLUMNS, _REFERENCE_BOUNDS, strict=True)):
        v = _clip(_f(reference[j], 0.0), 0.0, hi)
        out[col] = round(v) if j in _REFERENCE_INTS else round(v, 2)
    return ProgressionReference(**out)


class UnsafePrescriptionError(RuntimeError):
    """Raised instead of emitting a prescription the kernel rejects (should never happen)."""


def enforce_envelope(rx: Prescription | None, result: gk.KernelResult) -> Prescription | None:
    """Defence in depth: check, clamp if needed, check again; never return an unsafe dose."""
    if result.decision in ("hold", "refer"):
        return None
    if not gk.check_prescription(rx, result):
        return rx
    clamped = gk.clamp_prescription(rx, result)
    problems = gk.check_prescription(clamped, result)
    if problems:
        raise UnsafePrescriptionError("; ".join(problems))
    return clamped
