"""History features: what happened in the sessions strictly before each prediction point.

Why it is built this way: one implementation must serve a single REST patient, 100k-patient
batches and training with a prediction point per session. Sessions are sorted once by a combined
integer key (patient code, day, modality); every per-session quantity gets a prefix sum; a window
"days [as_of - w, as_of) of patient p" is two `np.searchsorted` calls and its aggregate is
`prefix[hi] - prefix[lo]`. No per-patient Python loop, no groupby-apply.

Prefix sums are int64 fixed point (value * 2**20, rounded): integer differences are exact, so a
patient's features do not depend on which other patients sit before it in the arrays. That is what
makes the single-patient (REST) and cohort paths give bit-identical features.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from features import registry
from features.contract.vocab import ADVERSE_EVENTS, MODALITIES
from features.encode import DAY_SPAN, NAT, column, to_days, to_float, vocab_codes
from features.labels import (
    AEROBIC,
    MODERATE_OR_WORSE,
    RESISTANCE,
    SERIOUS,
    completion_parts,
    session_intensity,
    target_rpe_high,
    tolerated_arrays,
)

SCALE = float(1 << 20)  # fixed-point resolution of prefix sums (about 1e-6)
WINDOWS = (7, 14, 28)  # days before as_of
LAST_K = (3, 5)  # most recent planned sessions
SEVERE_SYMPTOM = 8.0  # in-session fatigue / pain from which the symptomatic-day band applies
SLOPE_K = 5  # RPE slope over the last 5 sessions with an RPE
COMPLETION_CAP = 1.5  # a completion ratio above this is a logging error, not more effort
RECENT_DAYS = 28  # "what they are used to": the reference window of relative-dose features
# Up to this many sessions (index) or prediction points (features), every quantity of a window is
# summed in one stacked numpy call (a REST patient pays numpy's per-call cost a handful of times,
# not once per quantity); above it, one quantity at a time, so memory stays that of the outputs.
# Integer prefix sums: both ways give the same numbers.
STACKED_MAX = 4096

RECENT_COLUMNS = (
    "aerobic_sessions_per_week_28d",
    "aerobic_minutes_mean_28d",
    "aerobic_pct_hrmax_mean_28d",
    "aerobic_weekly_minutes_28d",
    "resistance_sessions_per_week_28d",
    "resistance_sets_mean_28d",
    "resistance_pct_1rm_mean_28d",
)
# Per-modality history (issue #10 item 3): intolerance, adverse events and completion of aerobic
# and of resistance sessions, each counted over that modality's sessions only, so a tolerated
# resistance session does not reset a run of intolerant aerobic sessions (and vice versa). The
# kernel's progression rules read some of these (features.registry.KERNEL_HISTORY_FACTS).
MODALITY_WINDOW = 14  # days: completion, tolerance and attendance rates per modality
# Every history feature, by its literal name, unit and meaning: features/registry.py (a test checks
# `history_features` computes exactly these).
COLUMNS: tuple[str, ...] = registry.names("history")


@dataclass(frozen=True)
class SessionIndex:
    """Sessions sorted by (patient code, day, modality) with integer prefix sums (n + 1 rows).

    The prefix sums are two matrices, one column per quantity (`_COUNT_SUMS`: counts;
    `_VALUE_SUMS`: fixed-point values and slope sums), so a window's sums are two row gathers
    whatever the number of quantities (a REST patient pays numpy's per-call cost a handful of
    times, not once per quantity); `sums` holds each column by name.
    """

    keys: np.ndarray  # (code * DAY_SPAN + day) * 2 + is_resistance, ascending
    day: np.ndarray
    counts: np.ndarray  # (n + 1) x len(_COUNT_SUMS)
    values: np.ndarray  # (n + 1) x len(_VALUE_SUMS), int64

    @cached_property
    def sums(self) -> dict[str, np.ndarray]:
        return {
            **{c: self.counts[:, j] for j, c in enumerate(_COUNT_SUMS)},
            **{c: self.values[:, j] for j, c in enumerate(_VALUE_SUMS)},
        }

    def __len__(self) -> int:
        return len(self.day)


# The prefix-sum columns of a SessionIndex, by name: counts of sessions with a property ...
_COUNT_SUMS = (
    *("att", "tol", "comp_n", "rpe_n", "over_n", "pain_n", "fatigue_n", "mild", "modplus"),
    *("serious", "aer", "aer_min_n", "aer_pct_n", "res", "res_sets_n", "res_pct_n"),
    # per modality (the aerobic_* / resistance_* history features)
    *("aer_att", "res_att", "aer_tol", "res_tol", "aer_comp_n", "res_comp_n"),
    *("aer_modplus", "res_modplus", "aer_serious", "res_serious"),
    *("fat8", "pain8"),  # in-session fatigue / pain scored 8/10 or more (kernel facts)
    "res_att_pct_n",  # attended resistance sessions with a planned %1RM (the tolerated record)
)
# ... and fixed-point sums of values (then the RPE slope's exact integer sums)
_VALUE_SUMS = (
    *("comp", "over", "pain", "fatigue", "done_min", "aer_min", "aer_pct", "res_sets"),
    *("res_pct", "aer_comp", "res_comp", "aer_done_min", "res_att_pct"),
    *("rpe", "sx", "sxx", "sxy"),
)
_SUM_AT = {
    **{c: (0, j) for j, c in enumerate(_COUNT_SUMS)},
    **{c: (1, j) for j, c in enumerate(_VALUE_SUMS)},
}


def _fixed(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fixed-point integers of `values` where `mask`, else 0."""
    return np.rint(np.where(mask, values, 0.0) * SCALE).astype(np.int64)


# Everything an order-dependent feature (last k, streaks, slope) reads from a session.
_TIE_COLUMNS = (
    "attended",
    "planned_minutes",
    "completed_minutes",
    "planned_sets",
    "completed_sets",
    "planned_pct_hrmax",
    "planned_pct_1rm",
    "rpe",
)


def _break_ties(key: np.ndarray, sel: np.ndarray, fields: list[np.ndarray]) -> np.ndarray:
    """Order sessions of the same patient, day and modality by their content, not row order.

    Which of two same-day sessions came first is unknown; ordering them by content makes the
    features independent of how the input rows happen to be ordered (shuffles, REST vs batch).
    Only the tied rows are re-sorted, so this costs nothing when there are no ties.
    """
    if len(key) < 2:
        return sel
    same = key[1:] == key[:-1]
    if not same.any():
        return sel
    tied = np.zeros(len(key), dtype=bool)
    tied[1:] |= same
    tied[:-1] |= same
    pos = np.flatnonzero(tied)
    rows = sel[pos]
    perm = np.lexsort([f[rows] for f in reversed(fields)] + [key[pos]])  # key: primary
    out = sel.copy()
    out[pos] = rows[perm]
    return out


def index_sessions(sessions: pd.DataFrame | None, codes: np.ndarray) -> SessionIndex:
    """Sort sessions once and precompute every per-session quantity as a prefix sum.

    `codes` are the patient codes of the rows (-1: patient unknown, the row is ignored).
    """
    if sessions is None or len(sessions) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return SessionIndex(
            empty,
            empty,
            np.zeros((1, len(_COUNT_SUMS)), np.int64),
            np.zeros((1, len(_VALUE_SUMS)), np.int64),
        )
    n = len(sessions)
    date = column(sessions, "date")
    if date is None:
        raise ValueError("sessions table has no 'date' column")
    day = to_days(date)
    mod = vocab_codes(column(sessions, "modality"), MODALITIES, n)
    key = ((codes * DAY_SPAN + day) << 1) | (mod == RESISTANCE)
    sel = np.flatnonzero((codes >= 0) & (day != NAT))
    key = key[sel]
    if len(key) > 1 and not bool(np.all(key[1:] >= key[:-1])):
        order = np.argsort(key, kind="stable")
        sel, key = sel[order], key[order]

    full: dict[str, np.ndarray] = {}

    def raw(name: str) -> np.ndarray:
        if name not in full:
            full[name] = to_float(column(sessions, name), n)
        return full[name]

    adverse_all = vocab_codes(column(sessions, "adverse_event"), ADVERSE_EVENTS, n)
    sel = _break_ties(key, sel, [raw(c) for c in _TIE_COLUMNS] + [adverse_all.astype(float)])

    def num(name: str) -> np.ndarray:
        return raw(name)[sel]

    mod, day, code = mod[sel], day[sel], codes[sel]
    attended = np.nan_to_num(num("attended")) != 0
    adverse = adverse_all[sel]
    adverse = np.where(adverse < 0, 0, adverse)  # missing adverse event means none
    pm, cm = num("planned_minutes"), num("completed_minutes")
    ps, cs = num("planned_sets"), num("completed_sets")
    intensity = session_intensity(mod, num("planned_pct_hrmax"), num("planned_pct_1rm"))
    rpe, pain, fatigue = num("rpe"), num("pain"), num("fatigue")
    tol = tolerated_arrays(mod, attended, pm, cm, ps, cs, intensity, rpe, adverse)

    done, plan = completion_parts(mod, pm, cm, ps, cs)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.clip(done / plan, 0.0, COMPLETION_CAP)
    ratio_ok = attended & np.isfinite(ratio)
    rpe_ok = attended & ~np.isnan(rpe)
    over = rpe - target_rpe_high(mod, intensity)
    over_ok = rpe_ok & ~np.isnan(over)
    aer, res = mod == AEROBIC, mod == RESISTANCE
    aer_pct_ok = aer & ~np.isnan(intensity)
    res_pct_ok = res & ~np.isnan(intensity)
    res_sets_ok = res & ~np.isnan(ps)
    aer_min_ok = aer & ~np.isnan(pm)

    # position within the patient: the x of the RPE slope (only differences matter)
    first = np.ones(len(code), dtype=bool)
    first[1:] = code[1:] != code[:-1]
    pos = np.arange(len(code), dtype=np.int64)
    x = pos - np.maximum.accumulate(np.where(first, pos, 0))
    y = _fixed(rpe, rpe_ok)
    xr = np.where(rpe_ok, x, 0)

    count_type = np.int32 if len(key) < 2**31 - 1 else np.int64
    # counts: int32 prefix sums (half the memory); fixed-point and slope sums: int64. Integer
    # prefix sums are exact, so one cumulative sum over the stacked columns gives the same
    # numbers as one per column.
    flags = {
        "att": attended,
        "tol": tol == 1.0,
        "comp_n": ratio_ok,
        "rpe_n": rpe_ok,
        "over_n": over_ok,
        "pain_n": ~np.isnan(pain),
        "fatigue_n": ~np.isnan(fatigue),
        "mild": adverse == ADVERSE_EVENTS.index("mild"),
        "modplus": adverse >= MODERATE_OR_WORSE,
        "serious": adverse == SERIOUS,
        "aer": aer,
        "aer_min_n": aer_min_ok,
        "aer_pct_n": aer_pct_ok,
        "res": res,
        "res_sets_n": res_sets_ok,
        "res_pct_n": res_pct_ok,
        "aer_att": aer & attended,
        "res_att": res & attended,
        "aer_tol": aer & (tol == 1.0),
        "res_tol": res & (tol == 1.0),
        "aer_comp_n": aer & ratio_ok,
        "res_comp_n": res & ratio_ok,
        "aer_modplus": aer & (adverse >= MODERATE_OR_WORSE),
        "res_modplus": res & (adverse >= MODERATE_OR_WORSE),
        "aer_serious": aer & (adverse == SERIOUS),
        "res_serious": res & (adverse == SERIOUS),
        "fat8": fatigue >= SEVERE_SYMPTOM,  # NaN compares False: an unscored session is not 8+
        "pain8": pain >= SEVERE_SYMPTOM,
        "res_att_pct_n": res_pct_ok & attended,
    }
    fixed = {
        "comp": (ratio, ratio_ok),
        "over": (over, over_ok),
        "pain": (pain, ~np.isnan(pain)),
        "fatigue": (fatigue, ~np.isnan(fatigue)),
        "done_min": (cm, attended & ~np.isnan(cm)),
        "aer_min": (pm, aer_min_ok),
        "aer_pct": (intensity, aer_pct_ok),
        "res_sets": (ps, res_sets_ok),
        "res_pct": (intensity, res_pct_ok),
        "aer_comp": (ratio, aer & ratio_ok),
        "res_comp": (ratio, res & ratio_ok),
        # the tolerated record counts what was done: completed minutes of attended sessions (at
        # most what was planned), the load of attended sessions
        "aer_done_min": (np.minimum(cm, pm), aer & ratio_ok),
        "res_att_pct": (intensity, res_pct_ok & attended),
    }
    slope = {"rpe": y, "sx": xr, "sxx": xr * xr, "sxy": xr * y}
    # column-major: each quantity's prefix sums are contiguous (fast sums and gathers of one
    # quantity over many sessions, as when they were separate arrays)
    counts = np.zeros((len(key) + 1, len(_COUNT_SUMS)), dtype=count_type, order="F")
    values = np.zeros((len(key) + 1, len(_VALUE_SUMS)), dtype=np.int64, order="F")
    n_fixed = len(fixed)
    if len(key) <= STACKED_MAX:  # a few sessions (one REST patient): one cumulative sum each
        np.cumsum(
            np.column_stack([flags[c] for c in _COUNT_SUMS]), axis=0, dtype=count_type,
            out=counts[1:],
        )  # fmt: skip
        parts = np.empty((len(key), len(_VALUE_SUMS)), dtype=np.int64)
        parts[:, :n_fixed] = _fixed(
            np.column_stack([fixed[c][0] for c in _VALUE_SUMS[:n_fixed]]),
            np.column_stack([fixed[c][1] for c in _VALUE_SUMS[:n_fixed]]),
        )
        parts[:, n_fixed:] = np.column_stack([slope[c] for c in _VALUE_SUMS[n_fixed:]])
        np.cumsum(parts, axis=0, out=values[1:])
    else:  # many: column by column, no (sessions x quantities) temporaries
        for j, c in enumerate(_COUNT_SUMS):
            np.cumsum(flags[c], dtype=count_type, out=counts[1:, j])
        for j, c in enumerate(_VALUE_SUMS):
            part = _fixed(*fixed[c]) if j < n_fixed else slope[c]
            np.cumsum(part, dtype=np.int64, out=values[1:, j])
    return SessionIndex(key, day, counts, values)


def _div(num: np.ndarray, den: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """num / scale / den, NaN where den is 0 (a rate over nothing is unknown, not 0)."""
    ok = den > 0
    if scale != 1.0:
        num = num / scale
    out = np.empty(len(num))
    out.fill(np.nan)  # (np.full's Python-level overhead is most of a one-patient call)
    return np.divide(num, den, out=out, where=ok)


def history_features(ix: SessionIndex, code: np.ndarray, day: np.ndarray) -> dict[str, np.ndarray]:
    """History features for prediction points (patient code, day number); sessions day < as_of."""
    P = ix.sums
    base = code * DAY_SPAN
    start = np.searchsorted(ix.keys, base << 1, side="left")
    hi = np.searchsorted(ix.keys, (base + day) << 1, side="left")
    stacked = len(hi) <= STACKED_MAX
    at_hi = (ix.counts[hi], ix.values[hi]) if stacked else None
    window: list[Any] = [None, None, None]  # the last window's lo and its sums (stacked)

    def diff(name: str, lo: np.ndarray) -> np.ndarray:
        """Sum of a quantity over sessions [lo, hi) (stacked: every quantity of the window
        at once, kept while the same `lo` is asked about)."""
        kind, j = _SUM_AT[name]
        if at_hi is None:
            m = ix.values if kind else ix.counts
            return m[hi, j] - m[lo, j]
        if window[0] is not lo:
            window[:] = [lo, at_hi[0] - ix.counts[lo], at_hi[1] - ix.values[lo]]
        return window[1 + kind][:, j]

    out: dict[str, np.ndarray] = {}

    def rates(lo: np.ndarray, suffix: str) -> None:
        att = diff("att", lo)
        out[f"attendance_rate_{suffix}"] = _div(att.astype(float), hi - lo)
        out[f"completion_rate_{suffix}"] = _div(diff("comp", lo), diff("comp_n", lo), SCALE)
        out[f"tolerated_rate_{suffix}"] = _div(diff("tol", lo).astype(float), att)
        out[f"rpe_mean_{suffix}"] = _div(diff("rpe", lo), diff("rpe_n", lo), SCALE)
        out[f"rpe_over_target_{suffix}"] = _div(diff("over", lo), diff("over_n", lo), SCALE)

    for w in WINDOWS:
        lo = np.searchsorted(ix.keys, (base + day - w) << 1, side="left")
        s = f"{w}d"
        out[f"n_planned_{s}"] = (hi - lo).astype(float)
        rates(lo, s)
        out[f"pain_mean_{s}"] = _div(diff("pain", lo), diff("pain_n", lo), SCALE)
        out[f"fatigue_mean_{s}"] = _div(diff("fatigue", lo), diff("fatigue_n", lo), SCALE)
        if w == 7:  # the kernel's recent symptom scores (when the visit has none)
            out["fatigue_8plus_7d"] = diff("fat8", lo).astype(float)
            out["pain_8plus_7d"] = diff("pain8", lo).astype(float)
        out[f"completed_minutes_{s}"] = diff("done_min", lo) / SCALE
        out[f"mild_ae_{s}"] = diff("mild", lo).astype(float)
        out[f"moderate_ae_{s}"] = diff("modplus", lo).astype(float)
        out[f"serious_ae_{s}"] = diff("serious", lo).astype(float)
    for k in LAST_K:
        rates(np.maximum(hi - k, start), f"last{k}")
    rates(start, "total")
    out["n_sessions_total"] = (hi - start).astype(float)

    # what the patient is used to, per modality (reference for relative-dose features)
    lo = np.searchsorted(ix.keys, (base + day - RECENT_DAYS) << 1, side="left")
    has = hi > start
    first_day = ix.day[np.where(has, start, 0)] if len(ix) else np.zeros(len(hi), np.int64)
    tenure = np.where(has, day - first_day, np.nan)
    weeks = np.where(has, np.clip(np.ceil(tenure / 7.0), 1.0, RECENT_DAYS / 7.0), RECENT_DAYS / 7)
    aer_n, res_n = diff("aer", lo), diff("res", lo)
    out["aerobic_sessions_per_week_28d"] = aer_n / weeks
    out["aerobic_minutes_mean_28d"] = _div(diff("aer_min", lo), diff("aer_min_n", lo), SCALE)
    out["aerobic_pct_hrmax_mean_28d"] = _div(diff("aer_pct", lo), diff("aer_pct_n", lo), SCALE)
    out["aerobic_weekly_minutes_28d"] = diff("aer_min", lo) / SCALE / weeks
    out["resistance_sessions_per_week_28d"] = res_n / weeks
    out["resistance_sets_mean_28d"] = _div(diff("res_sets", lo), diff("res_sets_n", lo), SCALE)
    out["resistance_pct_1rm_mean_28d"] = _div(diff("res_pct", lo), diff("res_pct_n", lo), SCALE)

    # recency and streaks: the last attended / tolerated session via searchsorted on prefix counts
    att_p, tol_p = P["att"], P["tol"]
    after_att = np.maximum(np.searchsorted(att_p, att_p[hi], side="left"), start)
    after_tol = np.maximum(np.searchsorted(tol_p, tol_p[hi], side="left"), start)
    last_att = after_att > start
    out["days_since_last_session"] = _last_day_gap(ix, day, after_att - 1, last_att)
    out["days_since_last_planned"] = _last_day_gap(ix, day, hi - 1, has)
    out["days_since_first_session"] = tenure
    out["intolerant_streak"] = (att_p[hi] - att_p[after_tol]).astype(float)
    out["missed_streak"] = (hi - after_att).astype(float)
    out["attendance_trend_7_28"] = out["attendance_rate_7d"] - out["attendance_rate_28d"]
    out["rpe_over_target_trend_7_28"] = out["rpe_over_target_7d"] - out["rpe_over_target_28d"]
    out["rpe_slope_last5"] = _rpe_slope(ix, hi, start)
    _per_modality(ix, day, base, start, hi, out)
    return {c: out[c] for c in COLUMNS}


def _per_modality(
    ix: SessionIndex,
    day: np.ndarray,
    base: np.ndarray,
    start: np.ndarray,
    hi: np.ndarray,
    out: dict[str, np.ndarray],
) -> None:
    """Per-modality features: the all-session quantities over one modality's sessions.

    The streak of a modality counts its attended sessions after its last tolerated session (within
    the patient, before as_of): sessions of the other modality neither extend nor reset it.
    """
    P = ix.sums
    lo7 = np.searchsorted(ix.keys, (base + day - 7) << 1, side="left")
    lo14 = np.searchsorted(ix.keys, (base + day - MODALITY_WINDOW) << 1, side="left")
    for name, m in (("aerobic", "aer"), ("resistance", "res")):
        att_p, tol_p = P[f"{m}_att"], P[f"{m}_tol"]
        after_tol = np.maximum(np.searchsorted(tol_p, tol_p[hi], side="left"), start)
        out[f"{name}_intolerant_streak"] = (att_p[hi] - att_p[after_tol]).astype(float)
        for w, lo in ((7, lo7), (14, lo14)):
            out[f"{name}_moderate_ae_{w}d"] = (
                P[f"{m}_modplus"][hi] - P[f"{m}_modplus"][lo]
            ).astype(float)
            out[f"{name}_serious_ae_{w}d"] = (P[f"{m}_serious"][hi] - P[f"{m}_serious"][lo]).astype(
                float
            )
        n = P[m][hi] - P[m][lo14]
        att = att_p[hi] - att_p[lo14]
        out[f"{name}_n_planned_14d"] = n.astype(float)
        out[f"{name}_attendance_rate_14d"] = _div(att.astype(float), n)
        out[f"{name}_completion_rate_14d"] = _div(
            P[f"{m}_comp"][hi] - P[f"{m}_comp"][lo14],
            P[f"{m}_comp_n"][hi] - P[f"{m}_comp_n"][lo14],
            SCALE,
        )
        out[f"{name}_tolerated_rate_14d"] = _div((tol_p[hi] - tol_p[lo14]).astype(float), att)
    _tolerated_record(ix, day, base, hi, out)


def _tolerated_record(
    ix: SessionIndex, day: np.ndarray, base: np.ndarray, hi: np.ndarray, out: dict[str, np.ndarray]
) -> None:
    """The best recent week the patient tolerated, over the four 7-day windows of the last 28 days:
    a window counts for a modality when at least one of its sessions was attended and every
    attended one was tolerated with its completion logged (a blank log is no evidence). Its dose
    is what the patient did in it, not what was planned: the completed minutes of its attended
    aerobic sessions (each at most as planned), the mean planned %1RM of its attended resistance
    sessions. (Before FEATURE_SET 1.3.0 it counted planned minutes, so one session attended of
    six planned made a six-session record.) The kernel's +10% progression steps from this when
    it is above the current prescription, so a one-off light week (symptoms, an infusion day)
    does not restart the climb (Kirkham et al., MSSE: chemotherapy-periodised exercise; ACSM
    2009: progress from the tolerated load). 0 (aerobic) / NaN (resistance) when no window
    counts."""
    P = ix.sums
    ends = [hi] + [
        np.searchsorted(ix.keys, (base + day - 7 * k) << 1, side="left") for k in range(1, 5)
    ]
    minutes = np.zeros(len(hi))
    load = np.full(len(hi), np.nan)
    for k in range(4):
        b, a = ends[k], ends[k + 1]
        for m in ("aer", "res"):
            att = P[f"{m}_att"][b] - P[f"{m}_att"][a]
            clean = (att >= 1) & (P[f"{m}_tol"][b] - P[f"{m}_tol"][a] == att)
            clean &= P[f"{m}_comp_n"][b] - P[f"{m}_comp_n"][a] == att
            if m == "aer":
                week = (P["aer_done_min"][b] - P["aer_done_min"][a]) / SCALE
                minutes = np.maximum(minutes, np.where(clean, week, 0.0))
            else:
                n = P["res_att_pct_n"][b] - P["res_att_pct_n"][a]
                week = _div(P["res_att_pct"][b] - P["res_att_pct"][a], n, SCALE)
                load = np.fmax(load, np.where(clean, week, np.nan))
    out["aerobic_tolerated_weekly_minutes_28d"] = minutes
    out["resistance_tolerated_pct_1rm_28d"] = load


def _last_day_gap(ix: SessionIndex, day: np.ndarray, idx: np.ndarray, ok: np.ndarray) -> np.ndarray:
    if len(ix) == 0:
        return np.full(len(day), np.nan)
    return np.where(ok, day - ix.day[np.where(ok, idx, 0)], np.nan).astype(float)


def _rpe_slope(ix: SessionIndex, hi: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Least-squares RPE change per planned session over the last 5 sessions with an RPE.

    Exact integer sums (x = position within the patient), so both paths agree bit for bit.
    """
    P = ix.sums
    n_p = P["rpe_n"]
    lo = np.searchsorted(n_p, n_p[hi] - SLOPE_K, side="right") - 1
    lo = np.maximum(lo, start)
    n = n_p[hi] - n_p[lo]
    sx = P["sx"][hi] - P["sx"][lo]
    sxx = P["sxx"][hi] - P["sxx"][lo]
    sy = P["rpe"][hi] - P["rpe"][lo]
    sxy = P["sxy"][hi] - P["sxy"][lo]
    num = n * sxy - sx * sy
    den = n * sxx - sx * sx
    return _div(np.where(n >= 3, num, 0), np.where(n >= 3, den, 0), SCALE)
