"""The week's end: training adaptation (VO2peak, strength), motivation and intolerance memory,
from what actually happened in the week's sessions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from training.sim_params import PHASES


@dataclass
class WeekTotals:
    """Per-patient accumulators over the current week."""

    n: int
    attended: np.ndarray = field(init=False)
    tolerated: np.ndarray = field(init=False)
    moderate: np.ndarray = field(init=False)
    serious: np.ndarray = field(init=False)
    aerobic_stimulus: np.ndarray = field(init=False)
    resistance_stimulus: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        for name in (
            "attended",
            "tolerated",
            "aerobic_stimulus",
            "resistance_stimulus",
        ):
            setattr(self, name, np.zeros(self.n))
        self.moderate = np.zeros(self.n, dtype=bool)
        self.serious = np.zeros(self.n, dtype=bool)


class WeeklyAdaptation:
    """Mixin of `Simulator`: what a week of sessions changes in each patient."""

    def _end_week(self, week: WeekTotals) -> None:
        """Weekly adaptation, motivation and intolerance memory from what actually happened."""
        c, tr, mo = self.c, self.p.training, self.p.motivation
        z = self._rng_world.standard_normal(self.n)
        stim_a = np.minimum(week.aerobic_stimulus / tr.aerobic_reference, tr.vo2_stimulus_cap)
        stim_r = np.minimum(week.resistance_stimulus / tr.resistance_reference, tr.vo2_stimulus_cap)
        age_x = np.clip(
            1 + tr.vo2_age_x_per_decade_over_60 * np.maximum(c.age - 60, 0) / 10, 0.5, 1
        )
        sarc_x = np.where(c.sarcopenia, tr.vo2_sarcopenia_x, 1.0)
        headroom = np.clip(1 - (self.vo2 - c.vo2) / tr.vo2_headroom, 0, 1)
        gain = (
            tr.vo2_gain_per_week
            * c.responder
            * age_x
            * sarc_x
            * stim_a**tr.vo2_dose_exponent
            * headroom
        )
        palliative = c.phase == PHASES.index("palliative")
        decline = np.where(
            c.on_infusion,
            tr.vo2_decline_chemo,
            np.where(palliative, tr.vo2_decline_palliative, 0.0),
        ) * (1 - np.minimum(stim_a, 1))
        self.vo2 = np.clip(self.vo2 + gain - decline, 5.0, 60.0)
        s_head = np.clip(1 - (self.strength / c.strength - 1) / tr.strength_headroom, 0, 1)
        s_gain = (
            tr.strength_gain_per_week * c.responder * sarc_x * stim_r**tr.vo2_dose_exponent * s_head
        )
        s_decl = np.where(c.on_infusion, tr.strength_decline_chemo, 0.0) * (
            1 - np.minimum(stim_r, 1)
        )
        self.strength = self.strength * (1 + s_gain - s_decl)
        keep = tr.adaptation_keep
        self.adapt_a = keep * self.adapt_a + (1 - keep) * stim_a
        self.adapt_r = keep * self.adapt_r + (1 - keep) * stim_r
        any_att = week.attended > 0
        share_tol = np.where(any_att, week.tolerated / np.maximum(week.attended, 1), 0.75)
        ik = mo.intolerance_keep
        self.intolerance = np.where(
            any_att, ik * self.intolerance + (1 - ik) * (1 - share_tol), ik * self.intolerance
        )
        # Motivation = a slowly drifting disposition + a fading memory of recent experience.
        memory = (
            mo.memory_keep * self.mot_memory
            + mo.per_tolerated_share * (share_tol - 0.75) * any_att
            + mo.moderate_ae * week.moderate
            + mo.serious_ae * week.serious
        )
        self.motivation = (
            self.motivation - self.mot_memory + memory + mo.drift_per_week + mo.sd_per_week * z
        )
        self.mot_memory = memory
        self.last_week = week
