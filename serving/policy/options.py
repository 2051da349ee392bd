"""Per-modality week options inside the kernel's envelope, around the progression reference;
the cited deload and the generic dose."""

from __future__ import annotations

import math

import numpy as np

from features.contract.dose import (
    MODERATE_PCT_HRMAX,
    TARGET_AEROBIC_MINUTES,
    VIGOROUS_PCT_HRMAX,
)
from serving.guidelines import kernel as gk
from serving.policy.config import PolicyConfig
from serving.policy.record import Reference
from serving.policy.scoring import A, R


def _guarded_sessions(
    s_lo: float, s_hi: float, generic: float, clean: bool, hold: float = 0.0
) -> np.ndarray:
    """Sessions per week from s_lo to s_hi; above max(generic, hold) only on a clean record."""
    if not clean:
        s_hi = min(s_hi, max(generic, hold))
        s_lo = min(s_lo, s_hi)
    return np.arange(max(1, s_lo), max(s_hi, 1) + 1)


# --------------------------------------------------------------------------------------------
# per-modality options
# --------------------------------------------------------------------------------------------
def _clip(v: float, lo: float, hi: float) -> float:
    return float(min(max(v, lo), hi))


def _centres(lo: float, hi: float, band: float) -> tuple[float, float]:
    """Where a band of width `band` can be centred inside [lo, hi] (the middle if narrower)."""
    if hi - lo >= band:
        return float(math.ceil(lo + band / 2)), float(math.floor(hi - band / 2))
    mid = float(math.floor((lo + hi) / 2))
    return mid, mid


def aerobic_allowed(env: gk.Envelope) -> bool:
    return env.aerobic_sessions_max >= 1 and env.aerobic_minutes_max >= env.aerobic_minutes_min


def resistance_allowed(env: gk.Envelope) -> bool:
    return bool(env.resistance_allowed) and env.resistance_sessions_max >= 1


def rate_below(rate: float, threshold: float) -> bool:
    """A known tolerated share under `threshold` (0: never)."""
    return bool(math.isfinite(rate) and rate < threshold)


def aerobic_options(
    env: gk.Envelope,
    ref: Reference,
    rise: bool,
    cfg: PolicyConfig,
    ref_clean: bool = True,
    rate: float = math.nan,
    minutes_held: bool = False,
) -> np.ndarray:
    """(sessions, minutes, %HRmax) options inside the envelope, around the reference.

    Sessions: one fewer .. the reference, plus one after a tolerated week; minutes on a grid
    around the reference plus, for each session count, the most the weekly-volume cap allows
    (so a session can be added by shortening them); %HRmax a little below the reference up to
    `aerobic_intensity_step` above it after a tolerated week. Without a current prescription the
    options stay at or below the generic dose. Empty when aerobic exercise is not allowed.
    After an untolerated week minutes step back, though not below a clinical cap on the session
    length (`step_back_floor_when_capped`); a progression rule holding the length at the
    current one (`minutes_held`) is no such cap.
    """
    if not aerobic_allowed(env):
        return np.zeros((0, 3))
    s0, m0, p0 = ref.aerobic
    cur = ref.aerobic_current
    up = 1 if (cur and rise) else 0
    s_hi = min(s0 + up, env.aerobic_sessions_max, cfg.max_aerobic_sessions, env.total_sessions_max)
    hold = 0.0 if cfg.guard_step_back else s0
    s_vals = _guarded_sessions(s0 - (1 if cur else 2), s_hi, cfg.start_aerobic[0], ref_clean, hold)
    p_top = p0 + (cfg.aerobic_intensity_step if (cur and rise) else 0.0)
    p_vals = [p0 + d for d in cfg.aerobic_intensity_grid] + [p_top]
    p_lo, p_hi = _centres(env.aerobic_pct_hrmax_min, env.aerobic_pct_hrmax_max, cfg.hrmax_band)
    p_vals = np.unique(np.floor([_clip(p, p_lo, p_hi) for p in p_vals]))
    grow = cur and (rise or not cfg.minutes_need_tolerated_week)
    m_hi = m0 + (cfg.minutes_span if grow else 0.0)
    longer_back = m0 > cfg.start_aerobic[1] and rate_below(rate, cfg.longer_step_back_below_rate)
    if (
        cur
        and not rise
        and (cfg.minutes_step_back or rate_below(rate, cfg.step_back_below_rate) or longer_back)
    ):
        m_hi = m0 - cfg.minutes_step
        floor = cfg.step_back_floor_minutes
        capped = env.aerobic_minutes_max <= cfg.start_aerobic[1] and not minutes_held
        if cfg.step_back_floor_when_capped and capped:  # a clinical cap, not a progression hold
            floor = max(floor, env.aerobic_minutes_max)
        if floor > 0:  # not below this length by a step back
            m_hi = max(m_hi, min(m0, floor))
    m_generic = cfg.start_aerobic[1]
    if not ref_clean and m_hi > m_generic:
        back = m0 - cfg.minutes_step if cfg.guard_step_back else m0  # step back or hold
        m_hi = max(m_generic, back)  # never below the generic length
    m_hi = min(m_hi, max(cfg.max_aerobic_minutes, m0 if cur else 0.0))
    m_grid = np.arange(m0 - cfg.minutes_span, m_hi + 1e-9, cfg.minutes_step)
    rows = []
    vol_max = env.aerobic_weekly_volume_max
    s_cap = aerobic_session_cap(env, ref, cfg)
    for s in s_vals:
        fit = math.floor(vol_max / s) if math.isfinite(vol_max) else m_hi
        m_vals = np.unique(
            np.floor(
                [
                    _clip(m, env.aerobic_minutes_min, env.aerobic_minutes_max)
                    for m in (*m_grid, min(fit, m_hi))
                ]
            )
        )
        if cfg.frequency_first and s < s_cap:  # longer sessions only once sessions are maxed
            m_vals = m_vals[m_vals <= max(m_generic, m0 if cur else 0.0)]
        for m in m_vals:
            for p in p_vals:
                rows.append((float(s), float(m), float(p)))
    opts = np.array(rows, dtype=float).reshape(-1, 3)
    modeq = opts[:, 0] * opts[:, 1] * np.where(opts[:, 2] >= VIGOROUS_PCT_HRMAX, 2.0, 1.0)
    keep = (opts[:, 0] * opts[:, 1] <= vol_max + 1e-9) & (
        modeq <= env.weekly_modeq_minutes_max + 1e-9
    )
    keep &= opts[:, 1] >= env.aerobic_minutes_min
    return opts[keep]


def aerobic_session_cap(env: gk.Envelope, ref: Reference, cfg: PolicyConfig) -> float:
    """The most aerobic sessions a week beside the reference's resistance sessions: where
    `frequency_first` lets aerobic sessions grow longer."""
    r_sessions = ref.resistance[0] if resistance_allowed(env) and ref.resistance_current else 0.0
    return min(
        env.aerobic_sessions_max, cfg.max_aerobic_sessions, env.total_sessions_max - r_sessions
    )


def resistance_options(
    env: gk.Envelope,
    ref: Reference,
    rise: bool,
    cfg: PolicyConfig,
    ref_clean: bool = True,
    resistance_first: bool = False,
) -> np.ndarray:
    """(sessions, sets, %1RM) options inside the envelope, around the reference; one more
    session and set and the kernel's load step (at most +10%) only after a tolerated week. A
    third session waits for the aerobic target unless resistance comes first (sarcopenia)."""
    if not resistance_allowed(env):
        return np.zeros((0, 3))
    s0, k0, q0 = ref.resistance
    cur = ref.resistance_current
    up = 1 if (cur and rise) else 0
    s_max = cfg.max_resistance_sessions
    room = env.total_sessions_max - ref.aerobic[0] >= s_max  # beside the aerobic sessions
    if aerobic_allowed(env) and not resistance_first and not (aerobic_at_target(ref) and room):
        hold_at = s0 if cur else 0.0  # a current third session is kept, not cut
        s_max = min(s_max, max(cfg.resistance_sessions_before_aerobic_target, hold_at))
    s_hi = min(s0 + up, env.resistance_sessions_max, s_max)
    hold = 0.0 if cfg.guard_step_back else s0
    s_vals = _guarded_sessions(s0 - 1, s_hi, cfg.start_resistance[0], ref_clean, hold)
    k_vals = np.unique(
        [_clip(k, env.resistance_sets_min, env.resistance_sets_max) for k in (k0 - 1, k0, k0 + up)]
    )
    q_top = env.resistance_pct_1rm_max if (cur and rise) else q0
    q_vals = [q0 + d for d in cfg.resistance_intensity_grid] + [q_top]
    q_lo, q_hi = _centres(env.resistance_pct_1rm_min, env.resistance_pct_1rm_max, cfg.one_rm_band)
    q_vals = np.unique(np.floor([_clip(q, q_lo, q_hi) for q in q_vals]))
    grid = np.array(np.meshgrid(s_vals, k_vals, q_vals, indexing="ij")).reshape(3, -1).T
    if cur and cfg.one_volume_step:
        # weekly volume rises one step at a time: one more session OR one more set, not both
        grid = grid[~((grid[:, 0] > s0) & (grid[:, 1] > k0))]
    return grid.astype(float)


def aerobic_at_target(ref: Reference) -> bool:
    """The aerobic reference already meets the guideline's >= 150 min a week of moderate."""
    s, m, p = ref.aerobic
    return bool(ref.aerobic_current and p >= MODERATE_PCT_HRMAX and s * m >= TARGET_AEROBIC_MINUTES)


def capped_below(env: gk.Envelope, ref: Reference) -> tuple[bool, bool]:
    """Per modality: the envelope cannot hold the current reference dose this week (a
    symptomatic day, an infusion day, a low count...). Such a week keeps the reference, as a
    deload does, so the patient resumes the plan afterwards instead of climbing back from the
    light week (Kirkham et al., MSSE: chemotherapy-periodised exercise); the kernel still caps
    every week, and its +10% step reads the tolerated record."""
    s, m, p = ref.aerobic
    aerobic = ref.aerobic_current and (
        env.aerobic_sessions_max < s
        or env.aerobic_minutes_max < m
        or env.aerobic_weekly_volume_max < s * m - 1e-9
        or env.aerobic_pct_hrmax_max < p
    )
    s, k, q = ref.resistance
    resistance = ref.resistance_current and (
        env.resistance_sessions_max < s
        or env.resistance_sets_max < k
        or env.resistance_pct_1rm_max < q
    )
    return bool(aerobic), bool(resistance)


def deload_plan(env: gk.Envelope, ref: Reference, modalities: tuple[bool, bool], cfg) -> np.ndarray:
    """The cited deload of the reference (see PolicyConfig): same frequency, ~20 min at the
    top of light intensity (RPE 11-13), resistance 2 x 15 reps at a light load; the kernel's
    envelope still bounds it (enforce_envelope runs after)."""
    plan = np.zeros(7)
    if modalities[A] and aerobic_allowed(env):
        s, m, p = ref.aerobic
        plan[0] = _clip(s, 1, min(env.aerobic_sessions_max, env.total_sessions_max))
        plan[1] = _clip(min(m, cfg.deload_aerobic_minutes), env.aerobic_minutes_min,
                        env.aerobic_minutes_max)  # fmt: skip
        plan[2] = _clip(min(p, cfg.deload_aerobic_pct_hrmax), env.aerobic_pct_hrmax_min,
                        env.aerobic_pct_hrmax_max)  # fmt: skip
        vol = env.aerobic_weekly_volume_max
        while plan[0] > 1 and plan[0] * plan[1] > vol + 1e-9:
            plan[0] -= 1
        plan[1] = min(plan[1], math.floor(vol / plan[0]) if math.isfinite(vol) else plan[1])
    if modalities[R] and resistance_allowed(env):
        s, k, q = ref.resistance
        room = max(env.total_sessions_max - plan[0], 0)
        plan[3] = _clip(s, 0, min(env.resistance_sessions_max, room))
        plan[4] = _clip(min(k, cfg.deload_resistance_sets), env.resistance_sets_min,
                        env.resistance_sets_max)  # fmt: skip
        plan[5] = _clip(
            cfg.deload_resistance_reps, env.resistance_reps_min, env.resistance_reps_max
        )
        plan[6] = _clip(min(q, cfg.deload_resistance_pct_1rm), env.resistance_pct_1rm_min,
                        env.resistance_pct_1rm_max)  # fmt: skip
        if plan[3] < 1:
            plan[3:7] = 0.0
    if plan[0] < 1 or plan[1] < env.aerobic_minutes_min:
        plan[0:3] = 0.0
    return plan


def generic_week(env: gk.Envelope, cfg: PolicyConfig) -> np.ndarray:
    """The Campbell 2019 generic dose (`start_*`) clipped into the envelope: the yardstick of
    the weekly risk bound (the fixed guideline dose a clinic would otherwise give)."""
    plan = np.zeros(7)
    if aerobic_allowed(env):
        s, m, p = cfg.start_aerobic
        plan[0] = _clip(s, 1, min(env.aerobic_sessions_max, env.total_sessions_max))
        plan[1] = _clip(m, env.aerobic_minutes_min, env.aerobic_minutes_max)
        plan[2] = _clip(p, env.aerobic_pct_hrmax_min, env.aerobic_pct_hrmax_max)
    if resistance_allowed(env):
        s, k, q = cfg.start_resistance
        plan[3] = _clip(s, 0, min(env.resistance_sessions_max, env.total_sessions_max - plan[0]))
        plan[4] = _clip(k, env.resistance_sets_min, env.resistance_sets_max)
        plan[5] = _reps(env)
        plan[6] = _clip(q, env.resistance_pct_1rm_min, env.resistance_pct_1rm_max)
        if plan[3] < 1:
            plan[3:7] = 0.0
    return plan


def _reps(env: gk.Envelope) -> float:
    return _clip(12.0, env.resistance_reps_min, env.resistance_reps_max)
