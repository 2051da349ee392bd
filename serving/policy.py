"""The recommendation policy: kernel envelope -> dose ladder -> model search -> final safety gate.

One function, `recommend`, serves REST (a cohort of one) and batch (a cohort of many) unchanged.

How a dose is chosen (DESIGN.md section 6):
1. The guideline kernel decides hold / refer / allowed and the envelope for every patient.
2. Inside the envelope we build a *ladder* of whole-week plans, every dose component (sessions,
   minutes, %HRmax, sets, %1RM) non-decreasing along it: from the minimum dose up to the current
   prescription (which sits at the middle rung when there is one) and on to the most the
   progression limits allow. Rungs that break a weekly cap are cut off the top.
3. Both models carry monotone constraints in every dose feature, so predicted tolerance and
   adherence can only fall along the ladder and the feasible rungs form a prefix: a bisection finds
   the largest rung whose predictions clear both thresholds in ~log2(rungs) model calls, for all
   patients at once. With no feasible rung the minimum dose is given (a regression).
4. The chosen plan is converted to a Prescription, checked against the envelope, clamped if
   needed and checked again; anything still outside is never emitted.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features import FEATURE_SET, build
from features.schemas import (
    AerobicDose,
    IntRange,
    Prescription,
    Range,
    ResistanceDose,
)
from serving.guidelines import kernel as gk

PLAN_COLUMNS = (
    "aerobic_sessions",
    "aerobic_minutes",
    "aerobic_pct_hrmax",
    "resistance_sessions",
    "resistance_sets",
    "resistance_reps",
    "resistance_pct_1rm",
)
HISTORY_FACTS = ("serious_ae_7d", "moderate_ae_7d", "intolerant_streak")


class Predictor(Protocol):
    """What the policy needs of a model: a name, a version and probabilities."""

    name: str
    version: str

    def predict(self, X: pd.DataFrame) -> np.ndarray: ...  # noqa: N803

    def explain(self, X: pd.DataFrame) -> np.ndarray | None: ...  # noqa: N803


@dataclass(frozen=True)
class Models:
    tolerance: Predictor
    adherence: Predictor


@dataclass(frozen=True)
class PolicyConfig:
    tolerance_threshold: float = 0.75
    adherence_threshold: float = 0.60
    half_rungs: int = 8  # rungs between minimum and current, and between current and maximum
    explain_top: int = 5
    # Without a current prescription, the ladder tops out at this many sessions per modality.
    start_aerobic_sessions_max: int = 5
    start_resistance_sessions_max: int = 2
    # Per-week rise of aerobic intensity on top of the volume rule (project choice, conservative).
    aerobic_intensity_step: float = 4.0
    # Width of the prescribed intensity bands.
    hrmax_band: float = 4.0
    one_rm_band: float = 5.0


# --------------------------------------------------------------------------------------------
# kernel facts
# --------------------------------------------------------------------------------------------
def kernel_facts(patient_row: dict[str, Any], history_row: dict[str, Any]) -> dict[str, Any]:
    """Patient columns (incl. rx_*) plus the history facts the kernel reads."""
    facts = dict(patient_row)
    for key in HISTORY_FACTS:
        facts[key] = history_row.get(key)
    return facts


# --------------------------------------------------------------------------------------------
# the ladder
# --------------------------------------------------------------------------------------------
def _f(value: Any, default: float = math.nan) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(out) else out


@dataclass(frozen=True)
class Ladder:
    """rungs x 7 plan matrix (PLAN_COLUMNS order); `current` is the current plan's rung or -1."""

    plans: np.ndarray
    current: int


def _lerp(a: float, b: float, t: np.ndarray) -> np.ndarray:
    return a + (b - a) * t


def build_ladder(result: gk.KernelResult, facts: dict[str, Any], cfg: PolicyConfig) -> Ladder:
    """A monotone path of week plans inside the envelope (see the module docstring)."""
    env = result.envelope
    h = cfg.half_rungs
    t_down = np.linspace(0.0, 1.0, h + 1)  # minimum -> current (or -> top without a current)
    # --- aerobic components --------------------------------------------------------------
    a_ok = env.aerobic_sessions_max >= 1 and env.aerobic_minutes_max >= env.aerobic_minutes_min
    a_min = (1.0, env.aerobic_minutes_min, env.aerobic_pct_hrmax_min)
    cur_as = _f(facts.get("rx_aerobic_sessions"), 0.0)
    cur_am = _f(facts.get("rx_aerobic_minutes"), 0.0)
    cur_ap = _f(facts.get("rx_aerobic_pct_hrmax_high"), 0.0)
    has_cur_a = cur_as >= 1 and cur_am > 0 and cur_ap > 0
    # --- resistance components -----------------------------------------------------------
    r_ok = bool(env.resistance_allowed) and env.resistance_sessions_max >= 1
    r_min = (1.0, float(env.resistance_sets_min), env.resistance_pct_1rm_min)
    cur_rs = _f(facts.get("rx_resistance_sessions"), 0.0)
    cur_rsets = _f(facts.get("rx_resistance_sets"), 0.0)
    cur_rp = _f(facts.get("rx_resistance_pct_1rm_high"), 0.0)
    has_cur_r = cur_rs >= 1 and cur_rsets >= 1 and cur_rp > 0
    has_cur = has_cur_a or has_cur_r

    def clip(v: float, lo: float, hi: float) -> float:
        return float(min(max(v, lo), hi))

    # current (clipped into the envelope) and top of the ladder
    if has_cur_a:
        a_cur = (
            clip(cur_as, 1, env.aerobic_sessions_max),
            clip(cur_am, env.aerobic_minutes_min, env.aerobic_minutes_max),
            clip(cur_ap, env.aerobic_pct_hrmax_min, env.aerobic_pct_hrmax_max),
        )
        grow = 1.0
        if math.isfinite(env.aerobic_weekly_volume_max) and a_cur[0] * a_cur[1] > 0:
            grow = max(1.0, env.aerobic_weekly_volume_max / (a_cur[0] * a_cur[1]))
        a_top = (
            a_cur[0],
            clip(a_cur[1] * grow, a_cur[1], env.aerobic_minutes_max),
            clip(a_cur[2] + cfg.aerobic_intensity_step, a_cur[2], env.aerobic_pct_hrmax_max),
        )
    else:
        a_top = (
            float(min(env.aerobic_sessions_max, cfg.start_aerobic_sessions_max)),
            float(env.aerobic_minutes_max),
            float(env.aerobic_pct_hrmax_max),
        )
        a_cur = a_min if has_cur else a_top
    if has_cur_r and r_ok:
        r_cur = (
            clip(cur_rs, 1, env.resistance_sessions_max),
            clip(cur_rsets, env.resistance_sets_min, env.resistance_sets_max),
            clip(cur_rp, env.resistance_pct_1rm_min, env.resistance_pct_1rm_max),
        )
        r_top = (
            r_cur[0],
            r_cur[1],
            clip(env.resistance_pct_1rm_progression_max, r_cur[2], env.resistance_pct_1rm_max),
        )
    else:
        r_top = (
            float(min(env.resistance_sessions_max, cfg.start_resistance_sessions_max)),
            float(env.resistance_sets_max),
            float(env.resistance_pct_1rm_max),
        )
        r_cur = r_min if has_cur else r_top

    if has_cur:
        t_up = np.linspace(0.0, 1.0, h + 1)[1:]
        segs = [(a_min, a_cur, r_min, r_cur, t_down), (a_cur, a_top, r_cur, r_top, t_up)]
    else:
        segs = [(a_min, a_top, r_min, r_top, np.linspace(0.0, 1.0, 2 * h + 1))]
    rows = []
    for a0, a1, r0, r1, t in segs:
        a_s = np.floor(_lerp(a0[0], a1[0], t) + 1e-9)
        a_m = np.floor(_lerp(a0[1], a1[1], t) + 1e-9)
        a_p = np.floor(_lerp(a0[2], a1[2], t) + 1e-9)
        r_s = np.floor(_lerp(r0[0], r1[0], t) + 1e-9)
        r_sets = np.floor(_lerp(r0[1], r1[1], t) + 1e-9)
        r_p = np.floor(_lerp(r0[2], r1[2], t) + 1e-9)
        rows.append(np.column_stack([a_s, a_m, a_p, r_s, r_sets, np.full_like(t, 12.0), r_p]))
    plans = np.vstack(rows)
    if has_cur:
        # the current plan exactly (unfloored) at the middle rung, so "maintain" is representable
        plans[h] = [*a_cur, *r_cur[:2], 12.0, r_cur[2]]
        plans[h, [0, 3, 4]] = np.floor(plans[h, [0, 3, 4]])
    if not a_ok:
        plans[:, 0:3] = 0.0
    if not r_ok:
        plans[:, 3:7] = 0.0
    plans = np.maximum.accumulate(plans, axis=0)  # guard: every component non-decreasing
    keep = _within_weekly_caps(plans, env)
    n_keep = int(np.argmin(keep)) if not keep.all() else len(keep)
    return Ladder(plans[:n_keep], h if has_cur and n_keep > h else -1)


def _within_weekly_caps(plans: np.ndarray, env: gk.Envelope) -> np.ndarray:
    a_s, a_m, a_p, r_s = plans[:, 0], plans[:, 1], plans[:, 2], plans[:, 3]
    modeq = a_s * a_m * np.where(a_p >= 77, 2.0, 1.0)
    return (
        (modeq <= env.weekly_modeq_minutes_max + 1e-9)
        & (a_s * a_m <= env.aerobic_weekly_volume_max + 1e-9)
        & (a_s + r_s <= env.total_sessions_max)
    )


# --------------------------------------------------------------------------------------------
# prescriptions
# --------------------------------------------------------------------------------------------
def _rpe_band(pct_hrmax: float) -> tuple[int, int]:
    """RPE (6-20) band of an aerobic intensity (ACSM GETP 10, guidelines.md section 5)."""
    if pct_hrmax < 64:
        return 9, 11
    if pct_hrmax < 77:
        return 12, 13
    return 14, 16


def plan_to_prescription(
    plan: np.ndarray, result: gk.KernelResult, cfg: PolicyConfig
) -> Prescription:
    env = result.envelope
    a_s, a_m, a_p, r_s, r_sets, r_reps, r_p = (float(x) for x in plan)
    aerobic = resistance = None
    if a_s >= 1 and a_m > 0:
        lo = max(env.aerobic_pct_hrmax_min, a_p - cfg.hrmax_band)
        rpe = _rpe_band(a_p)
        aerobic = AerobicDose(
            sessions_per_week=int(a_s),
            minutes_per_session=round(a_m),
            intensity_pct_hrmax=Range(low=round(lo), high=round(a_p)),
            rpe=IntRange(low=rpe[0], high=rpe[1]),
        )
    if r_s >= 1 and r_sets >= 1:
        lo = max(env.resistance_pct_1rm_min, r_p - cfg.one_rm_band)
        reps = (12, 15) if r_p < 50 else (10, 12) if r_p < 65 else (8, 12)
        reps = (
            max(reps[0], env.resistance_reps_min),
            min(reps[1], env.resistance_reps_max),
        )
        resistance = ResistanceDose(
            sessions_per_week=int(r_s),
            sets=int(r_sets),
            reps=IntRange(low=min(reps), high=max(reps)),
            intensity_pct_1rm=Range(low=round(lo), high=round(r_p)),
        )
    return Prescription(aerobic=aerobic, resistance=resistance, restrictions=list(result.restrictions))


def decide(plan: np.ndarray, facts: dict[str, Any]) -> str:
    """progress / maintain / regress relative to the current prescription (none: progress)."""
    cur = np.array(
        [
            _f(facts.get("rx_aerobic_sessions"), 0.0),
            _f(facts.get("rx_aerobic_minutes"), 0.0),
            _f(facts.get("rx_aerobic_pct_hrmax_high"), 0.0),
            _f(facts.get("rx_resistance_sessions"), 0.0),
            _f(facts.get("rx_resistance_sets"), 0.0),
            _f(facts.get("rx_resistance_pct_1rm_high"), 0.0),
        ]
    )
    if not cur.any():
        return "progress"
    new = np.array([plan[0], round(plan[1]), round(plan[2]), plan[3], plan[4], round(plan[6])])
    if np.all(np.abs(new - cur) < 0.5):
        return "maintain"
    if np.all(new >= cur - 0.5):
        return "progress"
    return "regress"


# --------------------------------------------------------------------------------------------
# the search
# --------------------------------------------------------------------------------------------
def _candidate_rows(keys: pd.DataFrame, plans: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Tolerance rows (one per modality present) and adherence rows for the given plans."""
    base = pd.DataFrame(plans, columns=list(PLAN_COLUMNS))
    base.insert(0, "patient_id", keys["patient_id"].to_numpy())
    base.insert(1, "as_of", keys["as_of"].to_numpy())
    aer = base.assign(modality="aerobic")
    res = base.assign(modality="resistance")
    adh = base.assign(modality=None)
    return pd.concat([aer, res, adh], ignore_index=True), np.arange(len(base))


def _score(
    patients: pd.DataFrame,
    sessions: pd.DataFrame,
    keys: pd.DataFrame,
    plans: np.ndarray,
    models: Models,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """(tolerance = min over modalities present, adherence, aerobic-row tolerance, features)."""
    cands, _ = _candidate_rows(keys, plans)
    feats = build(patients, sessions, keys[["patient_id", "as_of"]], candidates=cands)
    n = len(plans)
    tol = models.tolerance.predict(feats.iloc[: 2 * n])
    adh = models.adherence.predict(feats.iloc[2 * n :])
    t_a, t_r = tol[:n], tol[n:]
    has_a = plans[:, 0] >= 1
    has_r = plans[:, 3] >= 1
    tol_min = np.minimum(np.where(has_a, t_a, 1.0), np.where(has_r, t_r, 1.0))
    tol_min = np.where(has_a | has_r, tol_min, np.nan)
    return tol_min, adh, tol, feats


def recommend(
    patients: pd.DataFrame,
    sessions: pd.DataFrame,
    as_of: dt.date | pd.Timestamp,
    models: Models,
    cfg: PolicyConfig = PolicyConfig(),
) -> list[dict[str, Any]]:
    """Recommendations for every row of `patients` (one row per patient, rx_* columns optional).

    Returns one dict per patient in input order, shaped like the contract's response.
    """
    as_of_ts = pd.Timestamp(as_of).normalize()
    patients = patients.reset_index(drop=True)
    n = len(patients)
    keys = pd.DataFrame({"patient_id": patients["patient_id"].astype(str), "as_of": as_of_ts})
    snap = patients.assign(as_of=as_of_ts)
    base = build(snap, sessions, keys)
    prow = snap.to_dict("records")
    hrow = base.to_dict("records")
    results: list[gk.KernelResult] = []
    ladders: list[Ladder | None] = []
    facts_all = []
    for i in range(n):
        facts = kernel_facts(prow[i], hrow[i])
        res = gk.evaluate(facts)
        facts_all.append(facts)
        results.append(res)
        ladders.append(build_ladder(res, facts, cfg) if res.decision == "allowed" else None)

    # vectorised bisection over every allowed patient's ladder
    active = np.array([lad is not None and len(lad.plans) > 0 for lad in ladders])
    idx = np.flatnonzero(active)
    lo = np.full(n, -1)  # largest rung known feasible (-1: none)
    hi = np.array([len(lad.plans) if lad is not None else 0 for lad in ladders])  # infeasible
    while True:
        todo = idx[hi[idx] - lo[idx] > 1]
        if len(todo) == 0:
            break
        mid = (lo[todo] + hi[todo]) // 2
        plans = np.vstack([ladders[i].plans[m] for i, m in zip(todo, mid, strict=True)])
        tol, adh, _, _ = _score(snap.iloc[todo], sessions, keys.iloc[todo], plans, models)
        ok = (tol >= cfg.tolerance_threshold) & (adh >= cfg.adherence_threshold)
        ok &= np.isfinite(tol) & np.isfinite(adh)
        lo[todo[ok]] = mid[ok]
        hi[todo[~ok]] = mid[~ok]
    chosen = np.where(lo >= 0, lo, 0)

    # final scoring of the chosen plans (predictions reported + explanations)
    out_pred: dict[int, tuple[float, float, dict[str, float]]] = {}
    if len(idx):
        plans = np.vstack([ladders[i].plans[chosen[i]] for i in idx])
        tol, adh, tol_rows, feats = _score(snap.iloc[idx], sessions, keys.iloc[idx], plans, models)
        expl_rows = np.where(plans[:, 0] >= 1, np.arange(len(idx)), len(idx) + np.arange(len(idx)))
        contrib = models.tolerance.explain(feats.iloc[expl_rows])
        cols = list(FEATURE_SET.columns)
        for j, i in enumerate(idx):
            top: dict[str, float] = {}
            if contrib is not None:
                row = contrib[j, : len(cols)]
                order = np.argsort(-np.abs(row), kind="stable")[: cfg.explain_top]
                top = {cols[k]: float(row[k]) for k in order}
            out_pred[i] = (float(tol[j]), float(adh[j]), top)

    responses = []
    for i in range(n):
        res = results[i]
        rules = [dict(id=r.id, kind=r.kind, effect=r.effect, citation=r.citation) for r in res.fired]
        base_resp = {
            "patient_id": str(prow[i]["patient_id"]),
            "as_of": as_of_ts.date(),
            "rules": rules,
            "model": {
                "tolerance": {"name": models.tolerance.name, "version": models.tolerance.version},
                "adherence": {"name": models.adherence.name, "version": models.adherence.version},
            },
            "guideline_version": res.version,
        }
        if res.decision in ("hold", "refer") or ladders[i] is None:
            responses.append(
                base_resp
                | {
                    "decision": res.decision if res.decision in ("hold", "refer") else "hold",
                    "prescription": None,
                    "predictions": None,
                    "explanation": [],
                }
            )
            continue
        lad = ladders[i]
        assert lad is not None
        if len(lad.plans) == 0:
            rx = Prescription(restrictions=list(res.restrictions))
            tol_i = adh_i = math.nan
            top = {}
            decision = "regress" if decide(np.zeros(7), facts_all[i]) == "regress" else "maintain"
        else:
            plan = lad.plans[chosen[i]]
            rx = plan_to_prescription(plan, res, cfg)
            tol_i, adh_i, top = out_pred[i]
            decision = decide(plan, facts_all[i])
        rx = enforce_envelope(rx, res)
        responses.append(
            base_resp
            | {
                "decision": decision,
                "prescription": rx,
                "predictions": None
                if not (math.isfinite(tol_i) and math.isfinite(adh_i))
                else {"tolerance": round(tol_i, 4), "adherence": round(adh_i, 4)},
                "explanation": [
                    {"feature": k, "contribution": round(v, 4)} for k, v in top.items()
                ],
            }
        )
    return responses


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


def summarize_rules(responses: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in responses:
        for rule in r["rules"]:
            counts[rule["id"]] = counts.get(rule["id"], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
