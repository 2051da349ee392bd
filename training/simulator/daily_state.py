"""Latent daily dynamics: labs, symptoms and vitals of every patient on one day (world stream,
one fixed block of draws per day), and the carry-over from one day to the next."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.sim_params import PHASES


def fatigue_bump_shape(day: np.ndarray, peak_day: float, k: float) -> np.ndarray:
    """Gamma-shaped post-infusion bump, 1 at `peak_day`, 0 on the infusion day (Kirkham)."""
    x = np.maximum(np.asarray(day, dtype=float), 0.0) / peak_day
    return x**k * np.exp(k * (1.0 - x))


@dataclass
class DayState:
    """Latent state of every patient on one day."""

    cycle_day: np.ndarray  # -1 when not on infusional treatment
    fatigue: np.ndarray
    pain: np.ndarray
    hb: np.ndarray
    anc: np.ndarray
    plt: np.ndarray
    fever: np.ndarray
    temperature: np.ndarray
    vomiting: np.ndarray
    vomit_p: np.ndarray  # the day's probability of vomiting
    rhr: np.ndarray
    sbp: np.ndarray
    dbp: np.ndarray
    spo2: np.ndarray


class DailyState:
    """Mixin of `Simulator`: the latent state of a day, from the state `Simulator.__init__` sets."""

    def _day_state(self, t: int) -> DayState:
        """Latent state on day t; draws a fixed block from the world stream exactly once per day."""
        if self._day_cache is not None and self._day_cache[0] == t:
            return self._day_cache[1]
        c, ch, n = self.c, self.p.chemo, self.n
        z = self._rng_world.standard_normal((8, n))
        u = self._rng_world.random((7, n))
        pos = t + c.cycle_offset
        cycle_day = np.where(c.on_infusion, pos % c.cycle_len, -1)
        cycle_no = c.cycles_before + pos // c.cycle_len
        bump = np.where(
            c.on_infusion, fatigue_bump_shape(cycle_day, ch.fatigue_peak_day, ch.fatigue_shape_k), 0
        )
        nadir = np.where(
            c.on_infusion, np.exp(-0.5 * ((cycle_day - ch.nadir_day) / ch.nadir_sd_days) ** 2), 0
        )
        drift = np.where(
            c.on_infusion,
            np.minimum(ch.fatigue_drift_per_cycle * cycle_no, ch.fatigue_drift_cap),
            0,
        )
        on_rt = c.phase == PHASES.index("radiotherapy")
        rt = np.where(
            on_rt,
            np.minimum(ch.radiotherapy_fatigue_per_week * t / 7, ch.radiotherapy_fatigue_cap),
            0,
        )
        hb_drop = np.where(
            c.on_infusion, np.minimum(ch.hb_drop_per_cycle * cycle_no, ch.hb_drop_cap), 0
        )
        hb = c.hb0 - hb_drop - ch.hb_nadir_dip * nadir + 0.15 * z[0]
        anc = c.anc0 * (1 - c.anc_depth * nadir) * np.exp(0.1 * z[1])
        plt = c.plt0 * (1 - c.plt_depth * nadir) * np.exp(0.06 * z[2])
        fever_p = np.where(anc < 1.0, ch.fever_neutropenic_p, ch.fever_background_p)
        fever = u[0] < fever_p
        temperature = np.where(fever, 38.0 + 1.5 * u[1], c.temp0 + 0.15 * z[3])
        vomit_p = np.where(
            c.on_infusion,
            np.where(cycle_day <= 2, ch.vomiting_early_p, ch.vomiting_chemo_p),
            ch.vomiting_other_p,
        )
        vomiting = u[2] < vomit_p
        tr = self.p.training
        sd, keep = ch.fatigue_day_sd, ch.fatigue_day_keep
        if self.fatigue_wobble is None:  # stationary start
            self.fatigue_wobble = sd * z[4]
        else:
            self.fatigue_wobble = keep * self.fatigue_wobble + sd * np.sqrt(1 - keep**2) * z[4]
        fatigue = (
            c.fatigue0
            + ch.fatigue_peak * bump
            + drift
            + rt
            + 0.3 * np.maximum(11 - hb, 0)
            + self.acute_fatigue
            - tr.fatigue_relief_per_adaptation * np.minimum(self.adapt_a + self.adapt_r, 1.5) / 1.5
            + self.fatigue_wobble
        )
        fatigue = np.clip(fatigue, 0, 10)
        pain = np.clip(c.pain0 + self.pain_carry + 0.7 * z[5], 0, 10)
        rhr = (
            c.rhr0
            + 10 * fever
            + 2 * np.maximum(11 - hb, 0)
            - 0.6 * np.maximum(self.vo2 - c.vo2, 0)
            + 2 * z[6]
            + np.where(
                u[4] < ch.tachycardia_p,
                ch.tachycardia_bpm[0] + np.diff(ch.tachycardia_bpm) * u[5],
                0,
            )
        )
        sbp = c.sbp0 + 5 * z[7]
        dbp = c.dbp0 + 3 * z[7] + 2 * (u[3] - 0.5)
        desat = self._lungs & (u[6] < ch.desaturation_p_lung)
        drop = ch.desaturation_pct[0] + np.diff(ch.desaturation_pct) * u[5]
        spo2 = np.clip(c.spo2_0 + 0.5 * (u[3] - 0.5) - np.where(desat, drop, 0), 70, 100)
        state = DayState(
            cycle_day,
            fatigue,
            pain,
            hb,
            anc,
            plt,
            fever,
            temperature,
            vomiting,
            vomit_p,
            rhr,
            sbp,
            dbp,
            spo2,
        )
        self._day_cache = (t, state)
        return state

    def _end_day(self, t: int, carry: np.ndarray) -> None:
        tr = self.p.training
        self.acute_fatigue = (
            tr.acute_fatigue_keep * self.acute_fatigue + tr.acute_fatigue_per_overload * carry
        )
        self.pain_carry *= 0.7
        self._day_cache = None
