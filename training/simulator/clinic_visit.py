"""The weekly clinic visit: what a clinic records (measurement noise, missingness, the truth
columns kept apart), and the weekly draws of dropout, ECOG and weight before it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract.tables import PATIENT_COLUMNS
from training.sim_params import CANCER_TYPES, PHASES
from training.simulator.cohort import EXPERIENCE, STAGES
from training.simulator.logistic import sigmoid

# No simulated patient had major surgery in the 26 weeks before enrolment (SIMULATOR.md).
SURGERY_DAYS_AT_ENROLMENT = 182


class ClinicVisit:
    """Mixin of `Simulator`: the weekly snapshot and the drifts drawn before it."""

    def snapshot(self) -> pd.DataFrame:
        """This week's clinic visit, one row per patient (dropout and noise are drawn once)."""
        if self._snapshot is not None:
            return self._snapshot
        self._draw_dropout()
        t = 7 * self.week
        s = self._day_state(t)
        c, o, n = self.c, self.p.obs, self.n
        z = self._rng_observe.standard_normal((10, n))
        u = self._rng_observe.random((8, n))
        on_chemo = c.on_infusion

        def miss(x: np.ndarray, p: float | np.ndarray, k: int) -> np.ndarray:
            return np.where(u[k] < p, np.nan, x)

        lab_p = np.where(on_chemo, o.labs_missing_p_chemo, o.labs_missing_p_other)
        vomit = pd.array(s.vomiting, dtype="boolean")
        vomit[u[3] < o.symptoms_missing_p] = pd.NA
        sarc_obs = pd.array(
            np.where(np.isnan(c.sarcopenia_observed), False, c.sarcopenia_observed == 1),
            dtype="boolean",
        )
        sarc_obs[np.isnan(c.sarcopenia_observed)] = pd.NA
        fat_obs = np.clip(np.round(s.fatigue), 0, 10)
        pain_obs = np.clip(np.round(s.pain), 0, 10)
        # 6MWT: the Cahalin relation to VO2peak plus the person's functional tolerance (gait,
        # symptom limitation: the same trait that shows in sessions) plus test noise.
        walk = np.clip(
            (self.vo2 - 3.98) / 0.03 + o.walk_per_trait_sd * self._trait_z + o.walk_sd * z[7],
            0,
            1000,
        )
        df = pd.DataFrame(
            {
                "patient_id": c.patient_id,
                "as_of": np.full(n, (self.start + pd.Timedelta(days=t)).to_datetime64()),
                "age": c.age,
                "sex": c.sex,
                "height_cm": c.height,
                "weight_kg": np.round(self.weight, 1),
                "cancer_type": np.asarray(CANCER_TYPES, dtype=object)[c.cancer],
                "stage": np.asarray(STAGES, dtype=object)[c.stage],
                "metastatic_sites": c.mets_str,
                "treatment_phase": np.asarray(PHASES, dtype=object)[c.phase],
                "days_since_infusion": np.where(on_chemo, s.cycle_day, np.nan),
                "ecog": self.ecog.copy(),
                "comorbidities": c.comorb_str,
                "medical_clearance": c.clearance,
                "resistance_experience": np.asarray(EXPERIENCE, dtype=object)[c.experience],
                "sarcopenia": sarc_obs,
                "resting_hr": miss(np.round(s.rhr + o.rhr_sd * z[0]), o.vitals_missing_p, 0),
                "systolic_bp": miss(np.round(s.sbp + o.bp_sd[0] * z[1]), o.vitals_missing_p, 0),
                "diastolic_bp": miss(np.round(s.dbp + o.bp_sd[1] * z[2]), o.vitals_missing_p, 0),
                "spo2": miss(
                    np.round(np.clip(s.spo2 + 0.5 * z[3], 50, 100)), o.vitals_missing_p, 1
                ),
                "temperature_c": miss(np.round(s.temperature, 1), o.vitals_missing_p, 1),
                "hemoglobin_g_dl": miss(
                    np.round(np.clip(s.hb + o.hb_sd * z[4], 2, 25), 1), lab_p, 2
                ),
                "platelets_10e9_l": miss(
                    np.round(np.maximum(s.plt * (1 + o.count_cv * z[5]), 1)), lab_p, 2
                ),
                "anc_10e9_l": miss(
                    np.round(np.maximum(s.anc * (1 + o.count_cv * z[6]), 0.01), 2), lab_p, 2
                ),
                "fatigue": miss(fat_obs, o.symptoms_missing_p, 4),
                "pain": miss(pain_obs, o.symptoms_missing_p, 4),
                "vomiting_24h": vomit,
                "vo2peak_ml_kg_min": miss(
                    np.round(np.clip(self.vo2 * (1 + o.vo2_cv * z[8]), 3, 90), 1),
                    o.vo2_missing_p,
                    5,
                ),
                "six_minute_walk_m": miss(np.round(walk), o.walk_missing_p, 6),
                "grip_strength_kg": miss(
                    np.round(np.clip(self.strength + o.grip_sd * z[9], 0, 100), 1),
                    o.grip_missing_p,
                    7,
                ),
                # The additive contract facts the kernel reads (2026-11-30). The simulated world
                # has no cardiotoxic regimen and enrols at least 26 weeks after any major
                # surgery (SIMULATOR.md, "Outputs"); the infusion schedule is
                # known, as in a real chemotherapy unit.
                "next_infusion_in_days": np.where(on_chemo, c.cycle_len - s.cycle_day, np.nan),
                "recent_surgery_days": np.full(n, float(SURGERY_DAYS_AT_ENROLMENT + t)),
                "cardiotoxic_therapy": pd.array(np.zeros(n, dtype=bool), dtype="boolean"),
                "true_vo2peak": self.vo2.copy(),
                "true_strength": self.strength.copy(),
                "true_motivation": sigmoid(self.motivation),
                "true_dropped_out": self.dropped.copy(),
                "true_sarcopenia": c.sarcopenia.copy(),
                "true_fatigue": s.fatigue.copy(),
                "true_adaptation": self.adapt_a + self.adapt_r,
                "true_tolerance_trait": c.trait.copy(),
            }
        )
        assert tuple(df.columns[: len(PATIENT_COLUMNS)]) == PATIENT_COLUMNS
        self._snapshot = df
        return df

    def _draw_dropout(self) -> None:
        """Weekly hazard of stopping for good, from last week's experience (world stream)."""
        m, lw = self.p.motivation, self.last_week
        u = self._rng_world.random((3, self.n))
        zm = self._rng_world.standard_normal(self.n)
        s = self._day_state(7 * self.week)
        logit = (
            m.dropout_base
            + m.dropout_per_motivation * self.motivation
            + m.dropout_per_intolerance * self.intolerance
            + m.dropout_moderate_ae * lw.moderate
            + m.dropout_serious_ae * lw.serious
            + m.dropout_per_ecog * self.ecog
            + m.dropout_per_fatigue_over_3 * (s.fatigue - 3)
        )
        self.dropped |= u[0] < sigmoid(logit)
        # Slow performance-status changes (advanced disease worsens, others recover a little).
        c = self.c
        advanced = (c.stage == 3) | (c.phase == PHASES.index("palliative"))
        worse = advanced & (u[1] < m.ecog_worsen_advanced_p) & (self.week > 0)
        better = ~advanced & (u[2] < m.ecog_improve_p) & (self.week > 0)
        self.ecog = np.clip(self.ecog + worse - better, 0, 4)
        if self.week > 0:
            loss = np.where(c.on_infusion, self.p.chemo.weight_change_per_week, 0.0)
            self.weight = np.clip(
                self.weight + loss + self.p.chemo.weight_sd_per_week * zm, 30, 250
            )
