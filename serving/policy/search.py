"""The search: per-modality options scored on their own, the best combined into whole weeks and
scored again; the best week inside the risk bounds wins."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.guidelines import kernel as gk
from serving.guidelines.kernel.facts import converter_for
from serving.policy.config import PolicyConfig
from serving.policy.objective import expected_benefit, weekly_intolerant
from serving.policy.options import (
    _reps,
    aerobic_options,
    capped_below,
    deload_plan,
    generic_week,
    resistance_options,
)
from serving.policy.record import (
    _FEATURE_AT,
    Reference,
    _feature,
    clean_record,
    reference_of,
    tolerated_week,
)
from serving.policy.scoring import A, PlanScores, Points, R, Scorer


@dataclass(frozen=True)
class Context:
    """What the search needs of one allowed patient."""

    env: gk.Envelope
    ref: Reference
    rise: tuple[bool, bool]  # per modality: a tolerated week, so sessions/intensity may rise
    clean: tuple[bool, bool] = (True, True)  # per modality: a clean record (exposure guard)
    rate: tuple[float, float] = (math.nan, math.nan)  # per modality: tolerated share in 14 days
    resistance_first: bool = False  # sarcopenia recorded: a third resistance session any time
    # the aerobic session length is held by a progression rule (the patient's own record), not
    # capped for a clinical reason: a hold is no reason to stop stepping back
    minutes_held: bool = False


@dataclass(frozen=True)
class Choice:
    """The chosen week of one patient, its scores, and the reference to progress from next."""

    plan: np.ndarray  # PLAN_COLUMNS order
    reference: np.ndarray  # PLAN_COLUMNS order: the plan, or the pre-deload dose of a deload
    tolerance: float
    adherence: float
    benefit: float
    deload: bool
    considered: int  # week plans scored
    feature_row: np.ndarray | None
    # per modality (aerobic, resistance): the scorer's P(tolerate) and P(attend) of one session
    # of `plan` (None: no session of it), the numbers behind `tolerance` and `adherence`, kept
    # so that monitoring records them instead of scoring the plan a second time
    session_tolerance: tuple[float | None, float | None] = (None, None)
    session_attendance: tuple[float | None, float | None] = (None, None)
    # the aerobic and resistance options the search had for this patient (`options_for` of its
    # context, shared by every patient with an equal context): what the review page shows
    options: tuple[np.ndarray, np.ndarray] | None = None


def _weeks(a: np.ndarray, r: np.ndarray, reps: float) -> np.ndarray:
    """Whole weeks (PLAN_COLUMNS) from rows of aerobic (s, m, %HRmax) parts x rows of
    resistance (s, sets, %1RM) parts (one side a single row); no resistance part, no reps."""
    n = max(len(a), len(r))
    a = np.broadcast_to(a, (n, 3)) if len(a) else np.zeros((0, 3))
    r = np.broadcast_to(r, (n, 3)) if len(r) else np.zeros((0, 3))
    if not len(a) or not len(r):
        return np.zeros((0, 7))
    has_r = r[:, 0:1] >= 1
    res = np.where(has_r, np.column_stack([r[:, 0], r[:, 1], np.full(n, reps), r[:, 2]]), 0.0)
    return np.column_stack([a, res])


def recalibration(row: np.ndarray, ref_tol: np.ndarray, cfg: PolicyConfig) -> np.ndarray:
    """`recalibration_rows` for one patient."""
    return recalibration_rows(row[None, :], np.asarray(ref_tol)[None, :], cfg)[0]


def _recalibrated(tol: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """P(tolerate) with the intolerance scaled by the patient's recalibration factor."""
    return 1.0 - np.minimum(1.0, (1.0 - tol) * factor)


def _nearest(opts: np.ndarray, target: tuple[float, float, float]) -> np.ndarray:
    """The option closest to the reference (the other modality's context while scoring)."""
    if not len(opts):
        return np.zeros(3)
    scale = np.array([1.0, 10.0, 10.0])
    return opts[int(np.argmin((np.abs(opts - np.asarray(target)) / scale).sum(axis=1)))]


# Stage-1 row roles inside a patient's block: aerobic option, resistance option, generic, here.
_ROLE_GENERIC, _ROLE_HERE = 2, 3


@dataclass(frozen=True)
class _Kind:
    """What stage 1 needs of a context, shared by every patient with an equal context (the
    options depend on the context only): one block of week rows to score and its bookkeeping."""

    rows: np.ndarray  # aerobic-option weeks, resistance-option weeks, generic, here (n x 7)
    part: np.ndarray  # per row: the modality option it stands for (n x 3; zeros for the last 2)
    role: np.ndarray  # per row: A, R, _ROLE_GENERIC, _ROLE_HERE
    n_a: int  # aerobic options
    n_r: int  # resistance options
    reps: float
    deload: np.ndarray  # the full deload week (7)
    total_max: int  # the envelope's sessions per week, both modalities


def _context_key(ctx: Context) -> tuple:
    """Equal keys give equal options (NaN rates as None, so missing rates compare equal)."""
    rate = tuple(None if math.isnan(r) else r for r in ctx.rate)
    return (ctx.env, ctx.ref, ctx.rise, ctx.clean, rate, ctx.resistance_first, ctx.minutes_held)


def options_for(ctx: Context, cfg: PolicyConfig) -> tuple[np.ndarray, np.ndarray]:
    """The aerobic and resistance options of one patient's context (every flag of the context
    passed: the search, its reference and the review page read the same options)."""
    return (
        aerobic_options(
            ctx.env, ctx.ref, ctx.rise[A], cfg, ctx.clean[A], ctx.rate[A], ctx.minutes_held
        ),
        resistance_options(ctx.env, ctx.ref, ctx.rise[R], cfg, ctx.clean[R], ctx.resistance_first),
    )


def _kind_of(ctx: Context, cfg: PolicyConfig) -> _Kind:
    """Options, the other modality's context and the weeks stage 1 scores, for one context."""
    reps = _reps(ctx.env)
    ao, ro = options_for(ctx, cfg)
    a_ctx, r_ctx = _nearest(ao, ctx.ref.aerobic), _nearest(ro, ctx.ref.resistance)
    generic = generic_week(ctx.env, cfg)[None, :]
    here = _weeks(a_ctx[None, :], r_ctx[None, :], reps)  # the reference, for recalibration
    rows = np.vstack(
        [_weeks(ao, r_ctx[None, :], reps), _weeks(a_ctx[None, :], ro, reps), generic, here]
    )
    role = np.concatenate([np.full(len(ao), A), np.full(len(ro), R), [_ROLE_GENERIC, _ROLE_HERE]])
    part = np.vstack([ao.reshape(-1, 3), ro.reshape(-1, 3), np.zeros((2, 3))])
    deload = deload_plan(ctx.env, ctx.ref, (True, True), cfg)
    return _Kind(rows, part, role, len(ao), len(ro), reps, deload, ctx.env.total_sessions_max)


def _segments(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For segments of these lengths laid end to end: each segment's start, and per element
    its segment and its position inside the segment."""
    starts = (np.cumsum(lengths) - lengths).astype(np.int64)
    seg = np.repeat(np.arange(len(lengths)), lengths)
    return starts, seg, np.arange(len(seg)) - starts[seg]


def _group_first(group: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """Per group (in ascending group id), the element that sorts first by `keys` (most
    significant first), ties to the lowest index: a stable argmin per group."""
    order = np.lexsort((np.arange(len(group)), *reversed(keys), group))
    first = np.flatnonzero(np.r_[True, group[order][1:] != group[order][:-1]])
    return order[first]


def _descending(values: np.ndarray) -> np.ndarray:
    """A sort key for `np.argmax` semantics: larger first, NaN before everything."""
    return np.where(np.isnan(values), -np.inf, -values)


def _min_first(values: np.ndarray) -> np.ndarray:
    """A sort key for `np.argmin` semantics: smaller first, NaN before everything."""
    return np.where(np.isnan(values), -np.inf, values)


def _py_min(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Python's `min(a, b)` elementwise (NaN-safe the way the builtin is: b only if b < a)."""
    return np.where(np.asarray(b) < a, b, a)


def _py_max(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Python's `max(a, b)` elementwise (b only if b > a)."""
    return np.where(np.asarray(b) > a, b, a)


def recalibration_rows(rows: np.ndarray, ref_tol: np.ndarray, cfg: PolicyConfig) -> np.ndarray:
    """Per patient (points x 2) and modality, how much more (or less) often the patient's recent
    sessions were intolerant than the scorer predicts at the reference dose, within [floor, cap].

    The observed 14-day intolerant share is shrunk toward the prediction by
    `recalibration_prior_sessions` pseudo-sessions. Intolerance (1 - P(tolerate)) of every option
    is multiplied by it in the risk bounds and the objective: when the world is harder than the
    models learnt (say, long sessions cost more than in the training data), the patient's own
    record tightens the bounds instead of the search trusting the models' dose-response.
    """
    out = np.ones((len(rows), 2))
    if cfg.recalibration_prior_sessions <= 0 or not len(rows):
        return out
    k = cfg.recalibration_prior_sessions

    def col(name: str) -> np.ndarray:
        j = _FEATURE_AT.get(name)
        return rows[:, j].astype(float) if j is not None else np.full(len(rows), math.nan)

    for m, name in ((A, "aerobic"), (R, "resistance")):
        pred = 1.0 - ref_tol[:, m].astype(float)
        rate = col(f"{name}_tolerated_rate_14d")
        n = col(f"{name}_n_planned_14d") * col(f"{name}_attendance_rate_14d")
        use = np.isfinite(pred) & np.isfinite(rate) & np.isfinite(n) & (n > 0)
        with np.errstate(all="ignore"):
            obs = (n * (1.0 - rate) + k * pred) / (n + k)
            f = _py_min(_py_max(cfg.recalibration_floor, obs / _py_max(pred, 1e-3)),
                        cfg.recalibration_cap)  # fmt: skip
        out[:, m] = np.where(use, f, 1.0)
    return out


def _option_values(
    plans: np.ndarray,
    scores: PlanScores,
    m: int,
    ref_sessions: np.ndarray,
    current: np.ndarray,
    bound: np.ndarray,
    threshold: np.ndarray,
    cfg: PolicyConfig,
    resistance_first: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per option row of modality m (each with its patient's reference, bound and recalibrated
    scores): value (benefit - risk price x exposure), inside the bounds, expected intolerant
    sessions."""
    solo = plans.copy()
    if m == A:
        solo[:, 3:7] = 0.0
    else:
        solo[:, 0:3] = 0.0
    mine = np.arange(2) == m
    sub = PlanScores(
        np.where(mine, scores.tolerance, np.nan), np.where(mine, scores.attendance, np.nan)
    )
    benefit = expected_benefit(solo, sub, cfg, resistance_first)
    exposure = weekly_intolerant(solo, sub)
    tol, att = scores.tolerance[:, m], scores.attendance[:, m]
    ok = np.isfinite(tol) & (tol >= threshold)
    ok &= exposure <= bound + 1e-12
    if m == A:
        ok &= ~longer_than_generic(plans, cfg) | (tol >= cfg.longer_session_tolerance)
    rising = current & (plans[:, 0 if m == A else 3] > ref_sessions)
    ok &= ~rising | (att >= cfg.adherence_threshold)
    return benefit - cfg.risk_price * exposure, ok, exposure


def _shortlisted(
    owner: np.ndarray, value: np.ndarray, ok: np.ndarray, exposure: np.ndarray, k: int
) -> np.ndarray:
    """Mask of the rows kept per owner: the k best values inside the bounds (stable order),
    plus the least exposed one (so a whole week combining both modalities can still fit the
    weekly bound)."""
    keep = np.zeros(len(owner), dtype=bool)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return keep
    g = owner[idx]
    order = np.lexsort((idx, -value[idx], g))  # per owner: best value first, ties by position
    _, _, rank = _segments(np.unique(g, return_counts=True)[1])  # position inside the owner
    keep[idx[order[rank < k]]] = True
    keep[idx[_group_first(g, _min_first(exposure[idx]))]] = True
    return keep


def _weeks_rows(a: np.ndarray, r: np.ndarray, reps: np.ndarray) -> np.ndarray:
    """`_weeks` for equal-length rows of aerobic and resistance parts, reps per row."""
    has_r = r[:, 0:1] >= 1
    res = np.where(has_r, np.column_stack([r[:, 0], r[:, 1], reps, r[:, 2]]), 0.0)
    return np.column_stack([a, res])


def _parts(
    chosen: np.ndarray,
    owner: np.ndarray,
    values: np.ndarray,
    allowed: np.ndarray,
    fallback: np.ndarray,
    n_owners: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One modality's shortlisted parts per owner, in row order; an owner with an empty
    shortlist gets its deload part when the modality is allowed (flagged), else a zero part.
    Returns (parts, start and count per owner, forced per owner)."""
    count = np.bincount(owner[chosen], minlength=n_owners)
    empty = np.flatnonzero(count == 0)
    forced = (count == 0) & allowed
    fill = np.where(allowed[empty, None], fallback[empty], 0.0)
    own = np.concatenate([owner[chosen], empty])
    vals = np.vstack([values[chosen], fill.reshape(-1, 3)])
    order = np.argsort(own, kind="stable")
    count = np.maximum(count, 1)
    return vals[order], np.cumsum(count) - count, count, forced


def search(
    points: Points,
    contexts: Sequence[Context | None],
    scorer: Scorer,
    cfg: PolicyConfig,
) -> dict[int, Choice]:
    """Per-modality options scored with the other modality at its reference, then the best of
    each combined into whole weeks and scored again; two scorer calls for all patients.

    Vectorised over patients: each distinct context's options are built once (`_Kind`), the
    patients' blocks are laid end to end, and bounds, values and picks are segment-wise numpy
    (per patient: stable order, first best), the same arithmetic as one patient at a time."""
    live = np.array([i for i, c in enumerate(contexts) if c is not None], dtype=np.int64)
    if not len(live):
        return {}
    nl = len(live)
    # ---- the distinct contexts -------------------------------------------------------------
    kinds: list[_Kind] = []
    index: dict[tuple, int] = {}
    kid = np.empty(nl, dtype=np.int64)
    refs: list[Reference] = []
    capped: list[tuple[bool, bool]] = []
    for p, i in enumerate(live):
        ctx = contexts[i]
        assert ctx is not None
        key = _context_key(ctx)
        k = index.get(key)
        if k is None:
            k = index[key] = len(kinds)
            kinds.append(_kind_of(ctx, cfg))
        kid[p] = k
        refs.append(ctx.ref)
        capped.append(
            capped_below(ctx.env, ctx.ref) if cfg.keep_reference_when_capped else NOT_CAPPED
        )
    k_len = np.array([len(k.rows) for k in kinds])
    k_off = np.concatenate([[0], np.cumsum(k_len)[:-1]])
    k_rows = np.vstack([k.rows for k in kinds])
    k_part = np.vstack([k.part for k in kinds])
    k_role = np.concatenate([k.role for k in kinds])
    n_a = np.array([k.n_a for k in kinds])[kid]
    n_r = np.array([k.n_r for k in kinds])[kid]
    reps = np.array([k.reps for k in kinds])[kid]
    deload = np.vstack([k.deload for k in kinds])[kid]
    total_max = np.array([k.total_max for k in kinds], dtype=float)[kid]
    ref_a = np.array([r.aerobic for r in refs], dtype=float).reshape(-1, 3)
    ref_r = np.array([r.resistance for r in refs], dtype=float).reshape(-1, 3)
    cur = np.array([(r.aerobic_current, r.resistance_current) for r in refs], bool).reshape(-1, 2)
    first = np.array([contexts[i].resistance_first for i in live], dtype=bool)  # type: ignore[union-attr]

    # ---- stage 1: each modality on its own --------------------------------------------------
    starts1, own1, pos1 = _segments(k_len[kid])
    src = k_off[kid][own1] + pos1
    plans1, part1, role1 = k_rows[src], k_part[src], k_role[src]
    need1 = np.column_stack([role1 != R, role1 != A])
    sc1 = scorer.score(points, live[own1], plans1, need1)
    gen = starts1 + n_a + n_r
    generic_risk = weekly_intolerant(
        plans1[gen], PlanScores(sc1.tolerance[gen], sc1.attendance[gen])
    )
    bound = _py_min(cfg.max_weekly_intolerant, cfg.generic_risk_ratio * generic_risk)
    factor = recalibration_rows(points.matrix[live], sc1.tolerance[gen + 1], cfg)
    thr = session_thresholds(sc1.tolerance[gen], cfg)  # per patient and modality
    chosen = []
    for m in (A, R):
        sel = np.flatnonzero(role1 == m)
        o = own1[sel]
        sub = PlanScores(_recalibrated(sc1.tolerance[sel], factor[o]), sc1.attendance[sel])
        ref_s = (ref_a if m == A else ref_r)[o, 0]
        value, ok, exposure = _option_values(
            plans1[sel], sub, m, ref_s, cur[o, m], bound[o], thr[o, m], cfg, first[o]
        )
        chosen.append(sel[_shortlisted(o, value, ok, exposure, cfg.top_k)])

    # ---- stage 2: whole weeks (aerobic-major), then the full deload -------------------------
    a_vals, a_start, a_cnt, fa = _parts(chosen[A], own1, part1, n_a > 0, deload[:, 0:3], nl)
    r_vals, r_start, r_cnt, fr = _parts(chosen[R], own1, part1, n_r > 0, deload[:, [3, 4, 6]], nl)
    _, own_c, pos_c = _segments(a_cnt * r_cnt)
    combos = _weeks_rows(
        a_vals[a_start[own_c] + pos_c // r_cnt[own_c]],
        r_vals[r_start[own_c] + pos_c % r_cnt[own_c]],
        np.where(fr, deload[:, 5], reps)[own_c],
    )
    kept = np.flatnonzero(combos[:, 0] + combos[:, 3] <= total_max[own_c])
    n_kept = np.bincount(own_c[kept], minlength=nl)
    starts2, own2, _ = _segments(n_kept + 1)
    last = starts2 + n_kept  # the full deload closes each patient's block
    plans2 = np.empty((len(own2), 7))
    forced = np.empty((len(own2), 2), dtype=bool)
    at = starts2[own_c[kept]] + (np.arange(len(kept)) - (np.cumsum(n_kept) - n_kept)[own_c[kept]])
    plans2[at] = combos[kept]
    forced[at] = np.column_stack([fa, fr])[own_c[kept]]
    plans2[last] = deload
    forced[last] = True
    sc2 = scorer.score(points, live[own2], plans2)
    tol2 = _recalibrated(sc2.tolerance, factor[own2])
    benefit2 = expected_benefit(plans2, PlanScores(tol2, sc2.attendance), cfg, first[own2])
    free = ~forced
    thr2 = thr[own2].copy()
    longer = longer_than_generic(plans2, cfg)
    thr2[:, A] = np.where(longer, np.maximum(thr2[:, A], cfg.longer_session_tolerance), thr2[:, A])
    session_ok = (np.isnan(tol2) | (tol2 >= thr2) | ~free).all(axis=1)
    unforced = PlanScores(np.where(free, tol2, np.nan), np.where(free, sc2.attendance, np.nan))
    weekly_ok = weekly_intolerant(plans2, unforced) <= bound[own2] + 1e-12
    ok2 = session_ok & weekly_ok
    value2 = benefit2 - cfg.risk_price * weekly_intolerant(plans2, PlanScores(tol2, sc2.attendance))
    # per patient: the best week with no deload, else the best with one modality deloaded,
    # else the full deload (first best in block order)
    any_f, all_f = forced.any(axis=1), forced.all(axis=1)
    tier = np.where(ok2 & ~any_f, 0, np.where(ok2 & any_f & ~all_f, 1, 2))
    best = _group_first(own2, tier, _descending(value2))
    best = np.where(tier[best] == 2, last, best)
    options = [(k.part[: k.n_a], k.part[k.n_a : k.n_a + k.n_r]) for k in kinds]
    return _choices(
        live,
        best,
        plans2,
        forced,
        sc2,
        benefit2,
        refs,
        capped,
        n_kept + 1 + n_a + n_r,
        [options[k] for k in kid.tolist()],
    )


def _choices(
    live: np.ndarray,
    best: np.ndarray,
    plans: np.ndarray,
    forced: np.ndarray,
    scores: PlanScores,
    benefit: np.ndarray,
    refs: Sequence[Reference],
    capped: Sequence[tuple[bool, bool]],
    considered: np.ndarray,
    options: Sequence[tuple[np.ndarray, np.ndarray]],
) -> dict[int, Choice]:
    """The picked rows as `Choice`s (per-row arithmetic vectorised, then one object each)."""
    plan = plans[best]
    fa, fr = forced[best, A], forced[best, R]
    tol = scores.tolerance[best]
    finite = np.isfinite(tol)
    tol_min = np.where(finite.any(axis=1), np.where(finite, tol, np.inf).min(axis=1), math.nan)
    n = plan[:, [0, 3]]
    att = scores.attendance[best]
    has = np.isfinite(att) & (n >= 1)
    with np.errstate(all="ignore"):
        adh = np.where(
            has.any(axis=1),
            np.where(has, att * n, 0.0).sum(axis=1) / np.where(has, n, 0.0).sum(axis=1),
            math.nan,
        )
    modality = np.where(plan[:, 0] >= 1, A, R)  # explained: aerobic when the week has it
    per_tol, per_att = tol.tolist(), att.tolist()
    out: dict[int, Choice] = {}
    for p, i in enumerate(live.tolist()):
        out[i] = Choice(
            plan=plan[p],
            reference=_reference_after(
                plan[p], refs[p], (bool(fa[p]) or capped[p][A], bool(fr[p]) or capped[p][R])
            ),
            tolerance=float(tol_min[p]),
            adherence=float(adh[p]),
            benefit=float(benefit[best[p]]),
            deload=bool(fa[p] or fr[p]),
            considered=int(considered[p]),
            feature_row=scores.feature_row(int(best[p]), int(modality[p])),
            session_tolerance=_present(per_tol[p]),
            session_attendance=_present(per_att[p]),
            options=options[p],
        )
    return out


def _present(pair: list[float]) -> tuple[float | None, float | None]:
    """A (aerobic, resistance) pair with None for NaN (no session of that modality)."""
    a, r = pair
    return (None if a != a else a, None if r != r else r)


def contexts_for(
    point_matrix: np.ndarray,
    results: Sequence[gk.KernelResult],
    facts_all: Sequence[dict[str, Any]],
    cfg: PolicyConfig,
) -> list[Context | None]:
    """What the search needs of each patient (None: hold, refer or an empty envelope): the
    envelope, the progression reference and the record's flags per modality."""
    out: list[Context | None] = []
    for i, res in enumerate(results):
        if res.decision != "allowed" or res.envelope.is_empty:
            out.append(None)
            continue
        row = point_matrix[i]
        rise = (tolerated_week(row, "aerobic", cfg), tolerated_week(row, "resistance", cfg))
        clean = (clean_record(row, "aerobic", cfg), clean_record(row, "resistance", cfg))
        rate = tuple(_feature(row, (f"{m}_tolerated_rate_14d",)) for m in ("aerobic", "resistance"))
        ref = reference_of(facts_all[i], cfg)
        # only a recorded sarcopenia: a missing fact never loosens the dose
        first = _as_bool(facts_all[i].get("sarcopenia")) is True
        held = res.limited_by.get("aerobic_minutes_max", "").startswith("progression.")
        out.append(Context(res.envelope, ref, rise, clean, rate, first, held))
    return out


_as_bool = converter_for("sarcopenia")  # the kernel's reading of the fact (True, "yes", 1, ...)


def longer_than_generic(plans: np.ndarray, cfg: PolicyConfig) -> np.ndarray:
    """Aerobic sessions longer than the generic dose's (the exposure no trial validated for this
    patient, and the first thing a harder world punishes: CARE, Courneya 2013)."""
    return plans[:, 1] > cfg.start_aerobic[1] + 1e-9


def session_thresholds(generic_tolerance: np.ndarray, cfg: PolicyConfig) -> np.ndarray:
    """The per-session bound on P(tolerate), per modality (the last axis): `tolerance_threshold`,
    or with `generic_session_floor` never stricter than the generic dose's own predicted tolerance
    for this patient (the dose the clinic gives without Dosewise: Dosewise may not withhold less
    risky training than the guideline would give; the weekly bound and the price still apply)."""
    g = np.asarray(generic_tolerance, dtype=float)
    thr = np.full(g.shape, cfg.tolerance_threshold)
    if cfg.generic_session_floor:
        thr = np.where(np.isfinite(g), np.minimum(thr, g), thr)
    return thr


NOT_CAPPED = (False, False)


def _reference_after(plan: np.ndarray, ref: Reference, keep: tuple[bool, bool]) -> np.ndarray:
    """Next week's progression reference: the plan, except that a modality deloaded or capped
    below its reference by the envelope keeps the dose it came from (so the patient climbs back
    to it, not from the light week)."""
    out = plan.copy()
    if keep[A] and ref.aerobic_current and plan[0] >= 1:
        out[0:3] = ref.aerobic
    if keep[R] and ref.resistance_current and plan[3] >= 1:
        out[3], out[4], out[6] = ref.resistance
        out[5] = plan[5]
    return out
