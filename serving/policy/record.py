"""What the patient's record says: the kernel's facts, the progression reference, and the
per-modality history flags that gate progression."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features import FEATURE_SET
from features.contract.dose import PLAN_COLUMNS
from serving.guidelines import kernel as gk
from serving.policy.config import PolicyConfig

# Every history fact the kernel reads (per-modality ones included), as FEATURE_SET columns.
HISTORY_FACTS = gk.HISTORY_FACTS
FEATURE_COLUMNS = list(FEATURE_SET.columns)


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


def _f(value: Any, default: float = math.nan) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(out) else out


# --------------------------------------------------------------------------------------------
# the progression reference and the history flags
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    """Where progression starts from, per modality: (sessions, minutes, %HRmax) and
    (sessions, sets, %1RM); `current` marks a modality taken from the current prescription."""

    aerobic: tuple[float, float, float]
    resistance: tuple[float, float, float]
    aerobic_current: bool
    resistance_current: bool


def reference_of(facts: dict[str, Any], cfg: PolicyConfig) -> Reference:
    """Per modality: the kept reference of a deload (`ref_*`), else the current prescription,
    else the Campbell 2019 generic dose."""
    a = (
        _f(facts.get("rx_aerobic_sessions"), 0.0),
        _f(facts.get("rx_aerobic_minutes"), 0.0),
        _band_middle(facts, "rx_aerobic_pct_hrmax"),
    )
    r = (
        _f(facts.get("rx_resistance_sessions"), 0.0),
        _f(facts.get("rx_resistance_sets"), 0.0),
        _band_middle(facts, "rx_resistance_pct_1rm"),
    )
    ref = {c: _f(facts.get(f"ref_{c}"), 0.0) for c in PLAN_COLUMNS}
    a_kept = (ref["aerobic_sessions"], ref["aerobic_minutes"], ref["aerobic_pct_hrmax"])
    r_kept = (ref["resistance_sessions"], ref["resistance_sets"], ref["resistance_pct_1rm"])
    a_cur = a[0] >= 1 and a[1] > 0 and a[2] > 0
    r_cur = r[0] >= 1 and r[1] >= 1 and r[2] > 0
    if a_cur and a_kept[0] >= 1 and a_kept[1] > 0 and a_kept[2] > 0:
        a = a_kept
    if r_cur and r_kept[0] >= 1 and r_kept[1] >= 1 and r_kept[2] > 0:
        r = r_kept
    return Reference(
        aerobic=a if a_cur else cfg.start_aerobic,
        resistance=r if r_cur else cfg.start_resistance,
        aerobic_current=a_cur,
        resistance_current=r_cur,
    )


def _band_middle(facts: dict[str, Any], prefix: str) -> float:
    """The middle of a prescribed band (what the patient aims at); the top if only it is known."""
    hi = _f(facts.get(f"{prefix}_high"), 0.0)
    lo = _f(facts.get(f"{prefix}_low"), hi)
    return (lo + hi) / 2 if 0 < lo <= hi else hi


def _feature(row: np.ndarray, names: Sequence[str]) -> float:
    """The first of `names` that the feature set has, from a point row (NaN if none)."""
    for name in names:
        if name in _FEATURE_AT:
            return float(row[_FEATURE_AT[name]])
    return math.nan


_FEATURE_AT = {c: j for j, c in enumerate(FEATURE_COLUMNS)}


def tolerated_week(row: np.ndarray, modality: str, cfg: PolicyConfig) -> bool:
    """The modality's recent sessions were tolerated: its last attended session tolerated
    (intolerant streak 0), at least `rise_tolerated_rate` of its attended sessions in 14 days
    tolerated, none in the last 7 days, and no moderate or serious adverse event in it in 7 days
    (ACSM 2009 "2-for-2": progress only on a tolerated load). Per-modality history features
    (FEATURE_SET 1.1.0) when present, so one modality's intolerance never unlocks the other."""
    streak = _feature(row, (f"{modality}_intolerant_streak", "intolerant_streak"))
    ae = _feature(row, (f"{modality}_moderate_ae_7d", "moderate_ae_7d"))
    rate = _feature(row, (f"{modality}_tolerated_rate_14d", "tolerated_rate_14d"))
    return rate >= cfg.rise_tolerated_rate and streak == 0 and ae == 0


def clean_record(row: np.ndarray, modality: str, cfg: PolicyConfig) -> bool:
    """The exposure guard's gate: at least `clean_min_sessions` attended sessions of the
    modality in 14 days, all tolerated, none intolerant since, no moderate or serious AE in 7
    days. Without the guard every record counts as clean."""
    if not cfg.exposure_guard:
        return True
    streak = _feature(row, (f"{modality}_intolerant_streak", "intolerant_streak"))
    ae = _feature(row, (f"{modality}_moderate_ae_7d", "moderate_ae_7d"))
    rate = _feature(row, (f"{modality}_tolerated_rate_14d", "tolerated_rate_14d"))
    planned = _feature(row, (f"{modality}_n_planned_14d", "n_planned_14d"))
    attended = planned * _feature(row, (f"{modality}_attendance_rate_14d", "attendance_rate_14d"))
    return bool(
        attended >= cfg.clean_min_sessions
        and rate >= cfg.clean_tolerated_rate
        and streak == 0
        and ae == 0
    )
