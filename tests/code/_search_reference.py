"""The search as it was before it was vectorised (one patient at a time, session 5): the
reference `tests/code/test_search_vectorised.py` holds the vectorised search to, decision for
decision. Only the explanation row is read through `PlanScores.feature_row`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from serving.policy.config import PolicyConfig
from serving.policy.objective import expected_benefit, weekly_intolerant
from serving.policy.options import (
    _reps,
    capped_below,
    deload_plan,
    generic_week,
)
from serving.policy.record import Reference
from serving.policy.scoring import A, PlanScores, Points, R, Scorer
from serving.policy.search import (
    Choice,
    Context,
    _nearest,
    _recalibrated,
    _reference_after,
    _weeks,
    longer_than_generic,
    options_for,
    recalibration,
    session_thresholds,
)


def _combinations(
    a_short: np.ndarray,
    r_short: np.ndarray,
    a_allowed: bool,
    r_allowed: bool,
    deload: np.ndarray,
    reps: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Whole weeks from every shortlisted aerobic x resistance part (aerobic-major order), and
    per week which modality is the deload (a modality with an empty shortlist is deloaded when
    allowed, absent when not)."""
    a_parts = a_short if len(a_short) else (deload[None, 0:3] if a_allowed else np.zeros((1, 3)))
    r_parts = (
        r_short if len(r_short) else (deload[None, [3, 4, 6]] if r_allowed else np.zeros((1, 3)))
    )
    fa, fr = not len(a_short) and a_allowed, not len(r_short) and r_allowed
    na, nr = len(a_parts), len(r_parts)
    weeks = _weeks(
        np.repeat(a_parts, nr, axis=0), np.tile(r_parts, (na, 1)), deload[5] if fr else reps
    )
    flags = np.tile([fa, fr], (na * nr, 1))
    return weeks, flags


def _modality_stage(
    plans: np.ndarray,
    scores: PlanScores,
    m: int,
    ref: Reference,
    cfg: PolicyConfig,
    bound: float,
    threshold: float,
    resistance_first: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per option of modality m: benefit, inside the risk bounds, expected intolerant sessions."""
    solo = plans.copy()
    if m == A:
        solo[:, 3:7] = 0.0
    else:
        solo[:, 0:3] = 0.0
    sub = PlanScores(
        np.where(np.arange(2) == m, scores.tolerance, np.nan),
        np.where(np.arange(2) == m, scores.attendance, np.nan),
    )
    benefit = expected_benefit(solo, sub, cfg, resistance_first)
    exposure = weekly_intolerant(solo, sub)
    tol, att = scores.tolerance[:, m], scores.attendance[:, m]
    ok = np.isfinite(tol) & (tol >= threshold)
    ok &= exposure <= bound + 1e-12
    if m == A:
        ok &= ~longer_than_generic(plans, cfg) | (tol >= cfg.longer_session_tolerance)
    ref_s = (ref.aerobic if m == A else ref.resistance)[0]
    cur = ref.aerobic_current if m == A else ref.resistance_current
    col = 0 if m == A else 3
    rising = cur & (plans[:, col] > ref_s)
    ok &= ~rising | (att >= cfg.adherence_threshold)
    return benefit, ok, exposure


def _shortlist(opts: np.ndarray, benefit: np.ndarray, ok: np.ndarray, exposure: np.ndarray, k: int):
    """The k best options inside the bounds, plus the least exposed one (so a whole week
    combining both modalities can still fit the weekly bound)."""
    idx = np.flatnonzero(ok)
    if not len(idx):
        return opts[:0]
    best = idx[np.argsort(-benefit[idx], kind="stable")[:k]]
    safest = idx[np.argmin(exposure[idx])]
    return opts[np.unique(np.r_[best, safest])]


def reference_search(
    points: Points,
    contexts: Sequence[Context | None],
    scorer: Scorer,
    cfg: PolicyConfig,
) -> dict[int, Choice]:
    """Per-modality options scored with the other modality at its reference, then the best of
    each combined into whole weeks and scored again; two scorer calls for all patients."""
    live = [i for i, c in enumerate(contexts) if c is not None]
    if not live:
        return {}
    # ---- stage 1: each modality on its own --------------------------------------------------
    stage1: dict[int, tuple[np.ndarray, np.ndarray, slice, slice, float]] = {}
    generic_row: dict[int, int] = {}
    blocks, owners, needs = [], [], []
    pos = 0
    for i in live:
        ctx = contexts[i]
        assert ctx is not None
        reps = _reps(ctx.env)
        ao, ro = options_for(ctx, cfg)
        a_ctx, r_ctx = _nearest(ao, ctx.ref.aerobic), _nearest(ro, ctx.ref.resistance)
        generic = generic_week(ctx.env, cfg)[None, :]
        here = _weeks(a_ctx[None, :], r_ctx[None, :], reps)  # the reference, for recalibration
        rows = np.vstack(
            [_weeks(ao, r_ctx[None, :], reps), _weeks(a_ctx[None, :], ro, reps), generic, here]
        )
        blocks.append(rows)
        owners.append(np.full(len(rows), i))
        needs.append(
            np.vstack(
                [
                    np.tile([True, False], (len(ao), 1)),
                    np.tile([False, True], (len(ro), 1)),
                    [[True, True], [True, True]],
                ]
            )
        )
        n_opts = len(ao) + len(ro)
        stage1[i] = (ao, ro, slice(pos, pos + len(ao)), slice(pos + len(ao), pos + n_opts), reps)
        generic_row[i] = pos + n_opts
        pos += len(rows)
    shortlists: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    plans1 = np.vstack(blocks)
    sc1 = scorer.score(points, np.concatenate(owners), plans1, np.vstack(needs))
    generic_risk = weekly_intolerant(plans1, sc1)
    bound: dict[int, float] = {}
    threshold: dict[int, np.ndarray] = {}
    factor: dict[int, np.ndarray] = {}
    for i in live:
        g = float(generic_risk[generic_row[i]])
        bound[i] = min(cfg.max_weekly_intolerant, cfg.generic_risk_ratio * g)
        threshold[i] = session_thresholds(sc1.tolerance[generic_row[i]], cfg)
        factor[i] = recalibration(points.matrix[i], sc1.tolerance[generic_row[i] + 1], cfg)
        ao, ro, sa, sr, _ = stage1[i]
        ctx = contexts[i]
        assert ctx is not None
        lists = []
        for m, opts, sl in ((A, ao, sa), (R, ro, sr)):
            if not len(opts):
                lists.append(opts)
                continue
            sub = PlanScores(_recalibrated(sc1.tolerance[sl], factor[i]), sc1.attendance[sl])
            benefit, ok, exposure = _modality_stage(
                plans1[sl], sub, m, ctx.ref, cfg, bound[i], float(threshold[i][m]),
                ctx.resistance_first,
            )  # fmt: skip
            value = benefit - cfg.risk_price * exposure
            lists.append(_shortlist(opts, value, ok, exposure, cfg.top_k))
        shortlists[i] = (lists[0], lists[1])
    # ---- stage 2: whole weeks -------------------------------------------------------------
    weeks, forced, owners2, spans = [], [], [], {}
    pos = 0
    for i in live:
        ctx = contexts[i]
        assert ctx is not None
        ao, ro, _, _, reps = stage1[i]
        a_short, r_short = shortlists[i]
        full_deload = deload_plan(ctx.env, ctx.ref, (True, True), cfg)
        combos, flags = _combinations(a_short, r_short, len(ao) > 0, len(ro) > 0, full_deload, reps)
        keep = combos[:, 0] + combos[:, 3] <= ctx.env.total_sessions_max
        mine = np.vstack([combos[keep], full_deload[None, :]])
        weeks.append(mine)
        forced.append(np.vstack([flags[keep], [[True, True]]]))
        owners2.append(np.full(len(mine), i))
        spans[i] = slice(pos, pos + len(mine))
        pos += len(mine)
    plans2 = np.vstack(weeks)
    forced_arr = np.vstack(forced).astype(bool)
    sc2 = scorer.score(points, np.concatenate(owners2), plans2)
    factors2 = np.vstack([np.tile(factor[i], (spans[i].stop - spans[i].start, 1)) for i in live])
    tol2 = _recalibrated(sc2.tolerance, factors2)
    first2 = np.concatenate(
        [np.full(spans[i].stop - spans[i].start, contexts[i].resistance_first) for i in live]  # type: ignore[union-attr]
    )
    benefit2 = expected_benefit(plans2, PlanScores(tol2, sc2.attendance), cfg, first2)
    free = ~forced_arr
    thr2 = np.vstack([np.tile(threshold[i], (spans[i].stop - spans[i].start, 1)) for i in live])
    thr2[:, A] = np.where(
        longer_than_generic(plans2, cfg),
        np.maximum(thr2[:, A], cfg.longer_session_tolerance),
        thr2[:, A],
    )
    session_ok = (np.isnan(tol2) | (tol2 >= thr2) | ~free).all(axis=1)
    unforced = PlanScores(np.where(free, tol2, np.nan), np.where(free, sc2.attendance, np.nan))
    bounds2 = np.concatenate([np.full(spans[i].stop - spans[i].start, bound[i]) for i in live])
    weekly_ok = weekly_intolerant(plans2, unforced) <= bounds2 + 1e-12
    ok2 = session_ok & weekly_ok
    value2 = benefit2 - cfg.risk_price * weekly_intolerant(plans2, PlanScores(tol2, sc2.attendance))
    out: dict[int, Choice] = {}
    for i in live:
        sl = spans[i]
        ctx = contexts[i]
        assert ctx is not None
        cand = np.arange(sl.start, sl.stop)
        good = cand[ok2[cand] & ~forced_arr[cand].any(axis=1)]
        partial = cand[ok2[cand] & forced_arr[cand].any(axis=1) & ~forced_arr[cand].all(axis=1)]
        if len(good):
            j = int(good[np.argmax(value2[good])])
        elif len(partial):
            j = int(partial[np.argmax(value2[partial])])
        else:
            j = int(cand[-1])  # the full deload
        plan = plans2[j]
        fa, fr = forced_arr[j]
        ca, cr = (
            capped_below(ctx.env, ctx.ref) if cfg.keep_reference_when_capped else (False, False)
        )
        out[i] = Choice(
            plan=plan,
            reference=_reference_after(plan, ctx.ref, (bool(fa) or ca, bool(fr) or cr)),
            tolerance=_min_present(sc2.tolerance[j]),
            adherence=_session_weighted(plan, sc2.attendance[j]),
            benefit=float(benefit2[j]),
            deload=bool(fa or fr),
            considered=(sl.stop - sl.start) + len(stage1[i][0]) + len(stage1[i][1]),
            feature_row=sc2.feature_row(j, A if plan[0] >= 1 else R),
        )
    return out


def _min_present(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    return float(v.min()) if len(v) else math.nan


def _session_weighted(plan: np.ndarray, att: np.ndarray) -> float:
    """Mean predicted attendance over the week's planned sessions."""
    n = np.array([plan[0], plan[3]])
    has = np.isfinite(att) & (n >= 1)
    return float((att[has] * n[has]).sum() / n[has].sum()) if has.any() else math.nan
