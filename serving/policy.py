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
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import pandas as pd

from features import FEATURE_SET
from features.pipeline import build_rows, candidate_matrix
from features.schemas import (
    AerobicDose,
    IntRange,
    Prescription,
    Range,
    ResistanceDose,
)
from features.table import Table, TableLike
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
# Every history fact the kernel reads (per-modality ones included), as FEATURE_SET columns.
HISTORY_FACTS = gk.HISTORY_FACTS
FEATURE_COLUMNS = list(FEATURE_SET.columns)
_HISTORY_AT = [FEATURE_COLUMNS.index(c) for c in HISTORY_FACTS]


class Predictor(Protocol):
    """What the policy needs of a model: a name, a version and probabilities.

    `X` is a float matrix, one row per example and one column per `FEATURE_SET.columns` entry
    in that order (or a DataFrame with those columns: other callers, e.g. /predict).
    """

    name: str
    version: str

    def predict(self, X: np.ndarray | pd.DataFrame) -> np.ndarray: ...

    def explain(self, X: np.ndarray | pd.DataFrame) -> np.ndarray | None: ...


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
    # Search: at most this many rungs probed per patient per round, and at most probe_budget
    # candidate plans per round over all patients (bounds memory in batch).
    max_probes: int = 17
    probe_budget: int = 40_000
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


def records(frame: pd.DataFrame | dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Rows as dicts; far cheaper than DataFrame.to_dict("records") on wide, short frames."""
    if isinstance(frame, pd.DataFrame):
        cols = list(frame.columns)
        return [dict(zip(cols, row, strict=True)) for row in frame.to_numpy(dtype=object)]
    cols = list(frame)
    return [dict(zip(cols, row, strict=True)) for row in zip(*frame.values(), strict=True)]


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
    a_s, a_m, a_p, r_s, r_sets, _r_reps, r_p = (float(x) for x in plan)
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
    return Prescription(
        aerobic=aerobic, resistance=resistance, restrictions=list(result.restrictions)
    )


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
def _score(
    point_matrix: np.ndarray,
    point: np.ndarray,
    plans: np.ndarray,
    models: Models,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted (tolerance, adherence) of each plan, and the tolerance feature rows.

    Tolerance of a plan is the lower of its aerobic-session and resistance-session tolerance:
    the policy must not trade an intolerable modality against an easy one.
    """
    n = len(plans)
    stacked = np.vstack([plans, plans, plans])
    cands = {c: stacked[:, j] for j, c in enumerate(PLAN_COLUMNS)}
    cands["modality"] = np.repeat(np.array(["aerobic", "resistance", None], dtype=object), n)
    feats = candidate_matrix(point_matrix, np.tile(point, 3), Table(cands))
    tol = np.asarray(models.tolerance.predict(feats[: 2 * n]), dtype=float)
    adh = models.adherence.predict(feats[2 * n :])
    has_a, has_r = plans[:, 0] >= 1, plans[:, 3] >= 1
    t_min = np.minimum(np.where(has_a, tol[:n], 1.0), np.where(has_r, tol[n:], 1.0))
    t_min = np.where(has_a | has_r, t_min, np.nan)
    return t_min, np.asarray(adh, dtype=float), feats[: 2 * n]


@lru_cache(maxsize=4096)
def _probe_offsets(gap: int, k: int) -> np.ndarray:
    """Offsets from lo of up to k rungs strictly between lo and lo + gap + 1, evenly spread
    (all of them when few)."""
    if gap <= k:
        return np.arange(1, gap + 1)
    return np.unique(np.round(np.linspace(1, gap, k)).astype(int))


def search_ladders(
    point_matrix: np.ndarray,
    ladders: Sequence[Ladder | None],
    models: Models,
    cfg: PolicyConfig,
) -> dict[int, tuple[int, float, float, np.ndarray]]:
    """k-ary search for the largest feasible rung of every ladder, all patients per round.

    Feasible rungs form a prefix (monotone models), so each round narrows (lo, hi) to the gap
    between the last feasible and the first infeasible probe. With one patient the whole ladder is
    probed in a single round; with many, `probe_budget` bounds the rows per round. With no
    feasible rung the answer is rung 0 (the minimum dose). Vectorised over patients: a round
    costs a few numpy calls whatever the cohort size.
    Returns patient -> (rung, tolerance, adherence, tolerance feature row for explanations).
    """
    idx = np.array(
        [i for i, lad in enumerate(ladders) if lad is not None and len(lad.plans)], dtype=np.int64
    )
    if not len(idx):
        return {}
    sizes = np.array([len(ladders[i].plans) for i in idx])  # type: ignore[union-attr]
    stack = np.zeros((len(idx), int(sizes.max()), len(PLAN_COLUMNS)))
    for q, i in enumerate(idx):
        stack[q, : sizes[q]] = ladders[i].plans  # type: ignore[union-attr]
    k = int(max(2, min(cfg.max_probes, cfg.probe_budget // len(idx))))
    lo = np.full(len(idx), -1)
    hi = sizes.copy()
    n_feat = point_matrix.shape[1]
    best = {"t": np.full(len(idx), np.nan), "a": np.full(len(idx), np.nan)}
    best_row = np.full((len(idx), n_feat), np.nan)
    zero = {"t": np.full(len(idx), np.nan), "a": np.full(len(idx), np.nan)}
    zero_row = np.full((len(idx), n_feat), np.nan)
    while True:
        todo = np.flatnonzero(hi - lo > 1)
        if not len(todo):
            break
        # probes, patient-major: every (gap) group at once, rows of one patient contiguous
        gaps = hi[todo] - lo[todo] - 1
        parts_q, parts_r = [], []
        for gap in np.unique(gaps):
            sel = todo[gaps == gap]
            off = _probe_offsets(int(gap), k)
            parts_q.append(np.repeat(sel, len(off)))
            parts_r.append((lo[sel][:, None] + off[None, :]).ravel())
        q_of = np.concatenate(parts_q)
        rung = np.concatenate(parts_r)
        order = np.argsort(q_of, kind="stable")  # group rows by patient (rungs stay ascending)
        q_of, rung = q_of[order], rung[order]
        plans = stack[q_of, rung]
        tol, adh, feats = _score(point_matrix, idx[q_of], plans, models)
        ok = (
            np.isfinite(tol)
            & np.isfinite(adh)
            & (tol >= cfg.tolerance_threshold)
            & (adh >= cfg.adherence_threshold)
        )
        m = len(plans)
        starts = np.flatnonzero(np.r_[True, q_of[1:] != q_of[:-1]])
        who = q_of[starts]
        big = np.iinfo(np.int64).max
        first_bad = np.minimum.reduceat(np.where(ok, big, rung), starts)
        first_bad = np.where(first_bad == big, hi[who], first_bad)
        pos = np.arange(m)
        good = ok & (rung < np.repeat(first_bad, np.diff(np.r_[starts, m])))
        j_best = np.maximum.reduceat(np.where(good, pos, -1), starts)
        j_zero = np.maximum.reduceat(np.where(rung == 0, pos, -1), starts)
        feat_row = np.where(plans[:, 0] >= 1, pos, m + pos)  # aerobic row if any aerobic
        for store, row_store, j in ((best, best_row, j_best), (zero, zero_row, j_zero)):
            hit = j >= 0
            q, jj = who[hit], j[hit]
            store["t"][q], store["a"][q] = tol[jj], adh[jj]
            row_store[q] = feats[feat_row[jj]]
        lo[who] = np.where(j_best >= 0, rung[np.maximum(j_best, 0)], lo[who])
        hi[who] = first_bad
    out = {}
    for q, i in enumerate(idx.tolist()):
        if lo[q] >= 0:
            out[i] = (int(lo[q]), float(best["t"][q]), float(best["a"][q]), best_row[q])
        else:
            out[i] = (0, float(zero["t"][q]), float(zero["a"][q]), zero_row[q])
    return out


def recommend(
    patients: TableLike,
    sessions: TableLike | None,
    as_of: dt.date | pd.Timestamp,
    models: Models,
    cfg: PolicyConfig = PolicyConfig(),
) -> list[dict[str, Any]]:
    """Recommendations for every row of `patients` (one row per patient, rx_* columns optional).

    Tables are DataFrames (batch) or dicts of numpy arrays (REST: `requests_to_columns`).
    Returns one dict per patient in input order, shaped like the contract's response.
    """
    as_of_ts = pd.Timestamp(as_of).normalize()
    if isinstance(patients, pd.DataFrame):
        patients = patients.reset_index(drop=True)
        pid = patients["patient_id"].astype(str).to_numpy(dtype=object)
        snap: pd.DataFrame | dict[str, np.ndarray] = patients.assign(as_of=as_of_ts, patient_id=pid)
    else:
        table = Table.of(patients)
        pid = np.array([str(x) for x in table.values("patient_id")], dtype=object)
        snap = {c: table.values(c) for c in table.columns}
        snap["patient_id"] = pid
        snap["as_of"] = np.full(len(pid), as_of_ts.to_datetime64(), dtype="datetime64[ns]")
    n = len(pid)
    keys = {"patient_id": pid, "as_of": np.full(n, as_of_ts.to_datetime64(), "datetime64[ns]")}
    feature_rows = build_rows(snap, sessions, keys)
    if len(feature_rows) != n:  # every patient has a snapshot at as_of: a bug if not
        raise RuntimeError("feature rows missing for some patients")
    point_matrix = feature_rows.rows()
    prow = records(snap)
    hrow = [dict(zip(HISTORY_FACTS, row, strict=True)) for row in point_matrix[:, _HISTORY_AT]]
    results: list[gk.KernelResult] = []
    ladders: list[Ladder | None] = []
    facts_all = []
    for i in range(n):
        facts = kernel_facts(prow[i], hrow[i])
        res = gk.evaluate(facts)
        facts_all.append(facts)
        results.append(res)
        ladders.append(build_ladder(res, facts, cfg) if res.decision == "allowed" else None)

    found = search_ladders(point_matrix, ladders, models, cfg)
    contrib_rows = [found[i][3] for i in sorted(found)]
    contrib = models.tolerance.explain(np.vstack(contrib_rows)) if contrib_rows else None
    cols = list(FEATURE_SET.columns)
    out_pred: dict[int, tuple[int, float, float, dict[str, float]]] = {}
    for j, i in enumerate(sorted(found)):
        rung, tol_i, adh_i, _ = found[i]
        top: dict[str, float] = {}
        if contrib is not None:
            row = contrib[j, : len(cols)]
            order = np.argsort(-np.abs(row), kind="stable")[: cfg.explain_top]
            top = {cols[k]: float(row[k]) for k in order if row[k] != 0}
        out_pred[i] = (rung, tol_i, adh_i, top)

    responses = []
    for i in range(n):
        res = results[i]
        rules = [
            dict(id=r.id, kind=r.kind, effect=r.effect, citation=r.citation) for r in res.fired
        ]
        base_resp = {
            "patient_id": str(prow[i]["patient_id"]),
            "as_of": as_of_ts.date(),
            "rules": rules,
            "model": {
                "tolerance": {"name": models.tolerance.name, "version": models.tolerance.version},
                "adherence": {"name": models.adherence.name, "version": models.adherence.version},
            },
            "guideline_version": res.version,
            "unknown_facts": list(res.unknown_facts),
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
            rung, tol_i, adh_i, top = out_pred[i]
            plan = lad.plans[rung]
            rx = plan_to_prescription(plan, res, cfg)
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
