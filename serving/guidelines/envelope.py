"""The envelope: every bound a prescription for next week must respect.

An envelope is a box of allowed doses. A *minimum* (``*_min``) and a *maximum* (``*_max``) belong to
each dose quantity; a modality whose maximum number of sessions is 0 is not allowed at all. When two
rules bound the same quantity, the most restrictive wins: the largest minimum and the smallest
maximum.

Conventions (why they are what they are):
- ``total_sessions_max`` bounds aerobic + resistance sessions together (DESIGN.md: "at most 6
  sessions per week" is a ceiling on the whole week, not per modality).
- ``weekly_modeq_minutes_max`` counts aerobic minutes only (a resistance session has no minutes in
  the contract); a minute prescribed with a band whose top reaches ``VIGOROUS_PCT_HRMAX`` counts
  twice (PAG 2018: one vigorous minute = two moderate minutes).
- ``aerobic_weekly_volume_max`` is minutes x sessions (raw, not moderate-equivalent), set by the
  progression rules; infinite when there is nothing to progress from.
- ``resistance_pct_1rm_max`` already includes the progression limit; the progression limit alone is
  reported in ``resistance_pct_1rm_progression_max`` (infinite without a current resistance dose).
- A modality that is not allowed has every bound of it set to 0, like the empty envelope of a hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

# Intensity edges from the dose vocabulary (ACSM GETP 10 / Garber 2011: vigorous is 77-95% HRmax;
# resistance at 70% 1RM or more counts as vigorous, see rules.yaml restriction.no_vigorous).
from features.contract.dose import (  # noqa: F401  (the kernel reads them from here)
    RPE_SCALE_MIN,
    VIGOROUS_PCT_1RM,
    VIGOROUS_PCT_HRMAX,
)

AEROBIC_FIELDS = (
    "aerobic_sessions_max",
    "aerobic_minutes_min",
    "aerobic_minutes_max",
    "aerobic_pct_hrmax_min",
    "aerobic_pct_hrmax_max",
    "aerobic_rpe_max",
    "aerobic_weekly_volume_max",
)
RESISTANCE_FIELDS = (
    "resistance_sessions_max",
    "resistance_sets_min",
    "resistance_sets_max",
    "resistance_reps_min",
    "resistance_reps_max",
    "resistance_pct_1rm_min",
    "resistance_pct_1rm_max",
    "resistance_pct_1rm_progression_max",
)
WEEK_FIELDS = ("total_sessions_max", "weekly_modeq_minutes_max")
# Whole numbers in a prescription: their maxima are rounded down and minima up.
INTEGER_FIELDS = frozenset(
    {
        "aerobic_sessions_max",
        "aerobic_rpe_max",
        "total_sessions_max",
        "resistance_sessions_max",
        "resistance_sets_min",
        "resistance_sets_max",
        "resistance_reps_min",
        "resistance_reps_max",
    }
)
# (min, max) pairs that must stay ordered in an allowed modality.
RANGES = (
    ("aerobic_minutes_min", "aerobic_minutes_max"),
    ("aerobic_pct_hrmax_min", "aerobic_pct_hrmax_max"),
    ("resistance_sets_min", "resistance_sets_max"),
    ("resistance_reps_min", "resistance_reps_max"),
    ("resistance_pct_1rm_min", "resistance_pct_1rm_max"),
)


@dataclass(frozen=True, slots=True)
class Envelope:
    """Bounds on next week's dose; see the module docstring for the conventions."""

    aerobic_sessions_max: int
    aerobic_minutes_min: float
    aerobic_minutes_max: float
    aerobic_pct_hrmax_min: float
    aerobic_pct_hrmax_max: float
    aerobic_rpe_max: int
    aerobic_weekly_volume_max: float
    weekly_modeq_minutes_max: float
    total_sessions_max: int
    resistance_allowed: bool
    resistance_sessions_max: int
    resistance_sets_min: int
    resistance_sets_max: int
    resistance_reps_min: int
    resistance_reps_max: int
    resistance_pct_1rm_min: float
    resistance_pct_1rm_max: float
    resistance_pct_1rm_progression_max: float

    @property
    def aerobic_allowed(self) -> bool:
        return self.aerobic_sessions_max >= 1

    @property
    def is_empty(self) -> bool:
        """True when no session of any kind may be prescribed."""
        return not (self.aerobic_allowed or self.resistance_allowed)

    def as_dict(self) -> dict[str, float | int | bool]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


ENVELOPE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Envelope))
NUMERIC_FIELDS: tuple[str, ...] = tuple(n for n in ENVELOPE_FIELDS if n != "resistance_allowed")

EMPTY = Envelope(
    **dict.fromkeys(NUMERIC_FIELDS, 0),  # type: ignore[arg-type]
    resistance_allowed=False,
)


def is_consistent(env: Envelope) -> bool:
    """Bounds are non-negative and ordered, an allowed modality fits at least one minimal session,
    and a modality that is not allowed has all its bounds at 0."""
    v = env.as_dict()
    if any(math.isnan(v[n]) or v[n] < 0 for n in NUMERIC_FIELDS):
        return False
    if env.resistance_allowed != (env.resistance_sessions_max >= 1):
        return False
    for names, open_ in (
        (AEROBIC_FIELDS, env.aerobic_allowed),
        (RESISTANCE_FIELDS, env.resistance_allowed),
    ):
        if not open_:
            if any(v[n] != 0 for n in names):
                return False
            continue
        for lo, hi in RANGES:
            if lo in names and not (v[lo] <= v[hi] and math.isfinite(v[hi])):
                return False
        if env.total_sessions_max < 1:
            return False
    if (
        env.aerobic_allowed
        and min(env.aerobic_weekly_volume_max, env.weekly_modeq_minutes_max)
        < env.aerobic_minutes_min
    ):
        return False
    return env.total_sessions_max <= env.aerobic_sessions_max + env.resistance_sessions_max


def no_looser(after: Envelope, before: Envelope) -> bool:
    """True when every dose `after` allows is also allowed by `before` (after is inside before).

    Precisely: the week maxima of `after` are <= those of `before`; for each modality, either
    `after` does not allow it, or `before` allows it too and every maximum of `after` is <= the
    one of `before` and every minimum of `after` is >= the one of `before`. (Restrictions are
    compared separately: a tighter result keeps every restriction and may add more.)
    """
    for name in WEEK_FIELDS:
        if getattr(after, name) > getattr(before, name):
            return False
    for names, a_open, b_open in (
        (AEROBIC_FIELDS, after.aerobic_allowed, before.aerobic_allowed),
        (RESISTANCE_FIELDS, after.resistance_allowed, before.resistance_allowed),
    ):
        if not a_open:
            continue
        if not b_open:
            return False
        for name in names:
            a, b = getattr(after, name), getattr(before, name)
            if name.endswith("_min") and a < b:
                return False
            if name.endswith("_max") and a > b:
                return False
    return True
