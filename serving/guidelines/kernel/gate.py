"""The final gate: `check_prescription` lists every way a prescription breaks the kernel's
verdict, `clamp_prescription` forces one inside the envelope (defence in depth). Both gate any
prescription from any source."""

from __future__ import annotations

import math

from features.contract.rest import (
    AerobicDose,
    IntRange,
    Prescription,
    Range,
    ResistanceDose,
)
from serving.guidelines.envelope import (
    RPE_SCALE_MIN,
    VIGOROUS_PCT_HRMAX,
    Envelope,
)
from serving.guidelines.kernel.evaluation import KernelResult

# Relative tolerance of check_prescription, so float noise (1.1 x 30 = 33.000000000000004) is not
# reported as a violation. Far below any clinically meaningful difference.
TOLERANCE = 1e-9


def _fmt(x: float) -> str:
    return f"{x:g}"


def _within(problems: list[str], what: str, x: float, lo: float, hi: float) -> None:
    """Append a problem unless lo <= x <= hi (up to float noise); NaN is always a problem."""
    tol_lo = TOLERANCE * max(1.0, abs(lo))
    tol_hi = TOLERANCE * max(1.0, abs(hi)) if math.isfinite(hi) else 0.0
    if not (lo - tol_lo <= x <= hi + tol_hi):
        problems.append(f"{what} {_fmt(x)} outside {_fmt(lo)}-{_fmt(hi)}")


def _at_most(problems: list[str], what: str, x: float, hi: float) -> None:
    tol = TOLERANCE * max(1.0, abs(hi)) if math.isfinite(hi) else 0.0
    if not x <= hi + tol:
        problems.append(f"{what} {_fmt(x)} above the maximum {_fmt(hi)}")


def modeq_factor(pct_hrmax_high: float) -> int:
    """A band whose top reaches vigorous intensity counts every minute twice (PAG 2018)."""
    return 2 if pct_hrmax_high >= VIGOROUS_PCT_HRMAX else 1


def check_prescription(prescription: Prescription | None, result: KernelResult) -> list[str]:
    """Every way `prescription` breaks the kernel's verdict; an empty list means it is safe.

    No prescription (None) is always safe. Under hold or refer, any aerobic or resistance dose is a
    violation. Otherwise every component must lie inside the envelope (a component of a modality
    the envelope closes is a violation), the week's totals must fit, and every required restriction
    must be listed (more restrictions than required are fine).
    """
    if prescription is None:
        return []
    rx = prescription
    problems: list[str] = []
    if result.decision != "allowed":
        for name in ("aerobic", "resistance"):
            if getattr(rx, name) is not None:
                problems.append(f"decision is {result.decision}: no {name} dose may be given")
        return problems
    missing = sorted(set(result.restrictions) - set(rx.restrictions))
    if missing:
        problems.append(f"missing required restrictions: {', '.join(missing)}")
    env = result.envelope
    sessions = 0
    a = rx.aerobic
    if a is not None:
        sessions += a.sessions_per_week
        if not env.aerobic_allowed:
            problems.append("aerobic exercise is not allowed this week")
        else:
            lo, hi = a.intensity_pct_hrmax.low, a.intensity_pct_hrmax.high
            pct = (env.aerobic_pct_hrmax_min, env.aerobic_pct_hrmax_max)
            rpe = (RPE_SCALE_MIN, env.aerobic_rpe_max)
            minutes = (env.aerobic_minutes_min, env.aerobic_minutes_max)
            for what, x, (bound_lo, bound_hi) in (
                ("aerobic sessions/week", a.sessions_per_week, (1, env.aerobic_sessions_max)),
                ("aerobic minutes/session", a.minutes_per_session, minutes),
                ("aerobic intensity low %HRmax", lo, pct),
                ("aerobic intensity high %HRmax", hi, pct),
                ("aerobic RPE low", a.rpe.low, rpe),
                ("aerobic RPE high", a.rpe.high, rpe),
            ):
                _within(problems, what, x, bound_lo, bound_hi)
            if not (lo <= hi and a.rpe.low <= a.rpe.high):
                problems.append("aerobic band reversed (low above high)")
            volume = a.sessions_per_week * a.minutes_per_session
            modeq = volume * modeq_factor(hi)
            _at_most(problems, "aerobic minutes x sessions", volume, env.aerobic_weekly_volume_max)
            _at_most(problems, "moderate-equivalent min/week", modeq, env.weekly_modeq_minutes_max)
    r = rx.resistance
    if r is not None:
        sessions += r.sessions_per_week
        if not env.resistance_allowed:
            problems.append("resistance training is not allowed this week")
        else:
            lo, hi = r.intensity_pct_1rm.low, r.intensity_pct_1rm.high
            pct = (env.resistance_pct_1rm_min, env.resistance_pct_1rm_max)
            reps = (env.resistance_reps_min, env.resistance_reps_max)
            for what, x, (bound_lo, bound_hi) in (
                ("resistance sessions/week", r.sessions_per_week, (1, env.resistance_sessions_max)),
                ("resistance sets", r.sets, (env.resistance_sets_min, env.resistance_sets_max)),
                ("resistance reps low", r.reps.low, reps),
                ("resistance reps high", r.reps.high, reps),
                ("resistance load low %1RM", lo, pct),
                ("resistance load high %1RM", hi, pct),
            ):
                _within(problems, what, x, bound_lo, bound_hi)
            if not (lo <= hi and r.reps.low <= r.reps.high):
                problems.append("resistance band reversed (low above high)")
            prog = env.resistance_pct_1rm_progression_max
            _at_most(problems, "resistance load high %1RM (progression)", hi, prog)
    _at_most(problems, "sessions/week (aerobic + resistance)", sessions, env.total_sessions_max)
    return problems


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def _clip_int(x: int, lo: float, hi: float) -> int:
    return int(min(max(x, math.ceil(lo)), math.floor(hi)))


def _clamp_resistance(r: ResistanceDose | None, env: Envelope) -> ResistanceDose | None:
    if r is None or not env.resistance_allowed or r.sessions_per_week < 1 or r.sets < 1:
        return None
    sessions = min(r.sessions_per_week, env.resistance_sessions_max, env.total_sessions_max)
    if sessions < 1:
        return None
    pmax = min(env.resistance_pct_1rm_max, env.resistance_pct_1rm_progression_max)
    pmin = env.resistance_pct_1rm_min
    reps = (env.resistance_reps_min, env.resistance_reps_max)
    return ResistanceDose(
        sessions_per_week=sessions,
        sets=_clip_int(r.sets, env.resistance_sets_min, env.resistance_sets_max),
        reps=IntRange(low=_clip_int(r.reps.low, *reps), high=_clip_int(r.reps.high, *reps)),
        intensity_pct_1rm=Range(
            low=_clip(r.intensity_pct_1rm.low, pmin, pmax),
            high=_clip(r.intensity_pct_1rm.high, pmin, pmax),
        ),
    )


def _clamp_aerobic(a: AerobicDose | None, env: Envelope, max_sessions: int) -> AerobicDose | None:
    if a is None or not env.aerobic_allowed or a.sessions_per_week < 1:
        return None
    if not a.minutes_per_session > 0:
        return None
    sessions = min(a.sessions_per_week, env.aerobic_sessions_max, max_sessions)
    if sessions < 1:
        return None
    pmin, pmax = env.aerobic_pct_hrmax_min, env.aerobic_pct_hrmax_max
    low = _clip(a.intensity_pct_hrmax.low, pmin, pmax)
    high = _clip(a.intensity_pct_hrmax.high, pmin, pmax)
    mmin = env.aerobic_minutes_min
    minutes = _clip(a.minutes_per_session, mmin, env.aerobic_minutes_max)
    cap = min(env.aerobic_weekly_volume_max, env.weekly_modeq_minutes_max / modeq_factor(high))
    if sessions * minutes > cap:
        # fewer sessions only if even the shortest sessions do not fit, then shorter sessions
        sessions = min(sessions, int(cap // mmin)) if mmin > 0 else sessions
        if sessions < 1:
            return None
        minutes = max(mmin, min(minutes, math.floor(cap / sessions * 100) / 100))
        while sessions * minutes > cap and minutes > mmin:
            minutes = max(mmin, math.nextafter(minutes, 0.0))
    rpe_lo = _clip_int(a.rpe.low, RPE_SCALE_MIN, env.aerobic_rpe_max)
    rpe_hi = _clip_int(a.rpe.high, RPE_SCALE_MIN, env.aerobic_rpe_max)
    return AerobicDose(
        sessions_per_week=sessions,
        minutes_per_session=minutes,
        intensity_pct_hrmax=Range(low=low, high=high),
        rpe=IntRange(low=rpe_lo, high=rpe_hi),
    )


def clamp_prescription(
    prescription: Prescription | None, result: KernelResult
) -> Prescription | None:
    """Force a prescription inside the envelope (defence in depth); None under hold or refer.

    Every value is moved to the nearest allowed one; a component of a closed modality (or with no
    sessions) is dropped; when the week is too long, aerobic sessions are shortened first, and only
    if even the shortest sessions do not fit are there fewer of them; resistance keeps its sessions
    and aerobic gives way when the weekly session cap is reached. Required restrictions are added.
    """
    if result.decision != "allowed" or prescription is None:
        return None
    env = result.envelope
    resistance = _clamp_resistance(prescription.resistance, env)
    used = resistance.sessions_per_week if resistance is not None else 0
    aerobic = _clamp_aerobic(prescription.aerobic, env, env.total_sessions_max - used)
    restrictions = sorted(set(prescription.restrictions) | set(result.restrictions))
    return Prescription(aerobic=aerobic, resistance=resistance, restrictions=restrictions)
