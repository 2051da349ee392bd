"""Session outcomes: attendance, tolerance, adverse events, completion, RPE, heart rate and
symptoms of every planned session (outcomes stream), from one logit formula that the truth query
(`true_probabilities`, for oracle arms) shares."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract.dose import PLAN_COLUMNS, target_rpe_band
from training.simulator.adaptation import WeekTotals
from training.simulator.daily_state import DayState, fatigue_bump_shape
from training.simulator.dose_plan import clean_plan, require_plan_columns, weekly_burden
from training.simulator.logistic import probit_scale, sigmoid, softplus

MODALITIES = np.array(["aerobic", "resistance"], dtype=object)


@dataclass(frozen=True)
class _Logits:
    """Noise-free session logits and the dose terms the outcome draw reuses."""

    tolerate: np.ndarray
    attend: np.ndarray
    overload: np.ndarray
    pct: np.ndarray
    minutes: np.ndarray
    sets: np.ndarray
    reps: np.ndarray
    adapt: np.ndarray


class SessionOutcomes:
    """Mixin of `Simulator`: session logits, outcome draws and the true probabilities."""

    def true_probabilities(self, plans: pd.DataFrame) -> pd.DataFrame:
        """True per-session probabilities of candidate week plans for the CURRENT latent state.

        `plans`: `patient_id` plus PLAN_COLUMNS, any number of rows per patient (candidates).
        Answers, per row and in row order, `p_attend_<modality>` (a planned session is attended),
        `p_tolerate_<modality>` (an attended session is tolerated, the label of DESIGN.md s. 3)
        and `p_ae_moderate_or_serious_<modality>` (per attended session), for aerobic and
        resistance; NaN for a modality the plan does not contain. They are computed exactly as
        the simulation draws outcomes (same parameters, so the active scenario applies), on the
        state of this week's clinic-visit day (the state the policy is asked about: the days
        after it are not drawn yet); day-to-day logit noise, if any, is integrated out, and
        vomiting enters as that day's probability, as between visits. Consumes no randomness:
        asking changes nothing in the simulation.
        """
        require_plan_columns(plans)
        self.snapshot()  # the visit day's state exists (and is cached) before the week runs
        s = self._day_state(7 * self.week)
        idx = self._positions(plans)
        plan = clean_plan(
            {c: pd.to_numeric(plans[c], errors="coerce").to_numpy(float) for c in PLAN_COLUMNS}
        )
        burden = weekly_burden(plan)
        tp, ap, aep = self.p.tolerance, self.p.attendance, self.p.ae
        out: dict[str, np.ndarray] = {}
        for m, name in enumerate(MODALITIES):
            lg = self._session_logits(m, idx, s, plan, burden)
            p_tol = sigmoid(lg.tolerate / probit_scale(tp.daily_sd))
            att = lg.attend / probit_scale(ap.daily_sd)
            q = s.vomit_p[idx]
            p_att = (1 - q) * sigmoid(att) + q * sigmoid(att + ap.vomiting)
            hb, plt, anc = s.hb[idx], s.plt[idx], s.anc[idx]
            lab_risk = (
                aep.lab_risk_hb_below_9 * (hb < 9)
                + aep.lab_risk_plt_below_50 * (plt < 50)
                + aep.lab_risk_anc_below_1 * (anc < 1.0)
            )
            risk = np.maximum(lg.overload - 0.5, 0) + lab_risk
            q_ser = np.minimum(
                aep.serious_base * np.exp(aep.serious_risk_w * risk), aep.serious_cap
            )
            q_mod = np.minimum(
                aep.moderate_base * np.exp(aep.moderate_risk_w * risk), aep.moderate_cap
            )
            p_ae = (1 - p_tol) * np.minimum(q_ser + q_mod, 1.0)
            on = plan[f"{name}_sessions"] > 0
            out[f"p_attend_{name}"] = np.where(on, p_att, np.nan)
            out[f"p_tolerate_{name}"] = np.where(on, p_tol, np.nan)
            out[f"p_ae_moderate_or_serious_{name}"] = np.where(on, p_ae, np.nan)
        frame = pd.DataFrame(out, index=plans.index)
        frame.insert(0, "patient_id", plans["patient_id"].astype(str).to_numpy())
        return frame

    def _session_logits(
        self,
        m: int,
        idx: np.ndarray,
        s: DayState,
        plan: dict[str, np.ndarray],
        burden: np.ndarray,
    ) -> _Logits:
        """Noise-free logits of tolerance and attendance of modality m (0 aerobic, 1 resistance)
        for patients `idx` on a day with state `s`: one formula for the simulation and the truth
        query (`true_probabilities`). `plan` and `burden` are row-aligned with `idx` (one row per
        entry of `idx`; a patient may appear in several rows)."""
        c, tp, ap = self.c, self.p.tolerance, self.p.attendance
        k = len(idx)
        aerobic = m == 0
        cd = s.cycle_day[idx]
        on_inf = c.on_infusion[idx]
        fat, pain = s.fatigue[idx], s.pain[idx]
        hb, plt, anc = s.hb[idx], s.plt[idx], s.anc[idx]
        ecog = self.ecog[idx]
        zv = (self.vo2[idx] - 18.0) / 4.5
        zs = (self.strength[idx] / np.where(c.female[idx], 26.0, 40.0) - 1.0) / 0.2
        bump = np.where(
            on_inf,
            fatigue_bump_shape(cd, self.p.chemo.fatigue_peak_day, self.p.chemo.fatigue_shape_k),
            0.0,
        )
        early = np.where(on_inf, np.exp(-np.maximum(cd, 0) / ap.post_infusion_decay_days), 0.0)
        has = c.has
        if aerobic:
            minutes = plan["aerobic_minutes"]
            pct = plan["aerobic_pct_hrmax"]
            sets = reps = np.full(k, np.nan)
            adapt = self.adapt_a[idx]
            cap = (
                tp.aerobic_capacity_pct
                + tp.capacity_per_vo2_sd * zv
                + tp.capacity_per_adaptation * adapt
            )
            overload = tp.intensity_weight * softplus((pct - cap) / tp.intensity_scale_pct)
            overload += tp.minutes_weight * softplus(
                (minutes - tp.minutes_capacity) / tp.minutes_scale
            )
            specific = (
                tp.per_vo2_sd * zv
                + tp.sarcopenia_aerobic * c.sarcopenia[idx]
                + tp.neuropathy_aerobic * has("peripheral_neuropathy")[idx]
                + tp.copd_aerobic * has("copd")[idx]
            )
            att_dose = ap.post_infusion_per_10pct_over_64 * early * np.maximum(pct - 64, 0) / 10
        else:
            sets = plan["resistance_sets"]
            reps = plan["resistance_reps"]
            pct = plan["resistance_pct_1rm"]
            minutes = plan["resistance_minutes"]
            adapt = self.adapt_r[idx]
            exp_ = c.experience[idx]
            cap = (
                tp.resistance_capacity_pct
                + tp.resistance_capacity_per_strength_sd * np.clip(zs, -2.5, 2.5)
                + tp.resistance_capacity_experienced * (exp_ == 2)
                + tp.resistance_capacity_none * (exp_ == 0)
                + tp.resistance_capacity_per_adaptation * adapt
                + tp.resistance_capacity_per_ecog * ecog
            )
            overload = tp.resistance_weight * softplus((pct - cap) / tp.resistance_scale_pct)
            overload += -tp.per_set_over_2 * (sets - 2) - tp.per_rep_over_12 * (reps - 12)
            specific = (
                tp.per_strength_sd * np.clip(zs, -2.5, 2.5)
                + tp.sarcopenia_resistance * c.sarcopenia[idx]
                + tp.bone_mets_resistance * c.site("bone")[idx]
                + tp.lymphedema_resistance * has("lymphedema")[idx]
            )
            att_dose = np.zeros(k)
        fever = s.fever[idx]
        tol_logit = (
            tp.base
            - overload
            + specific
            + tp.per_ecog * ecog
            + tp.per_fatigue_over_3 * (fat - 3)
            + tp.post_infusion * bump
            + tp.per_hb_below_11 * np.maximum(11 - hb, 0)
            + tp.platelets_below_50 * (plt < 50)
            + tp.anc_below_1 * (anc < 1.0)
            + tp.per_decade_over_60 * np.maximum(c.age[idx] - 60, 0) / 10
            + tp.per_adaptation * adapt
            + tp.per_pain_over_2 * np.maximum(pain - 2, 0)
            + tp.cvd * has("cardiovascular_disease")[idx]
            + tp.fever * fever
            + c.trait[idx]
        )
        att_logit = (
            ap.base
            + ap.per_motivation * self.motivation[idx]
            + ap.per_vo2_sd * zv
            + ap.per_fatigue_over_3 * (fat - 3)
            + ap.post_infusion * early
            + att_dose
            + ap.per_burden * burden
            + ap.per_recent_intolerance * self.intolerance[idx]
            + ap.sarcopenia_on_chemo * (c.sarcopenia[idx] & on_inf)
            + ap.per_ecog * ecog
            + ap.per_pain_over_2 * np.maximum(pain - 2, 0)
            + ap.fever * fever
        )
        return _Logits(tol_logit, att_logit, overload, pct, minutes, sets, reps, adapt)

    def _sessions(
        self,
        m: int,
        idx: np.ndarray,
        t: int,
        s: DayState,
        plan: dict[str, np.ndarray],
        burden: np.ndarray,
        u: np.ndarray,
        z: np.ndarray,
        week: WeekTotals,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Outcomes of the planned sessions of modality m (0 aerobic, 1 resistance) on day t."""
        c, tp, ap, aep = self.c, self.p.tolerance, self.p.attendance, self.p.ae
        k = len(idx)
        aerobic = m == 0
        hb, plt, anc = s.hb[idx], s.plt[idx], s.anc[idx]
        fat, pain = s.fatigue[idx], s.pain[idx]
        lg = self._session_logits(m, idx, s, {key: v[idx] for key, v in plan.items()}, burden[idx])
        overload, pct, minutes, sets, reps = lg.overload, lg.pct, lg.minutes, lg.sets, lg.reps
        vomit = s.vomiting[idx]
        tol_logit = lg.tolerate + tp.daily_sd * z[0, idx]
        p_tol = sigmoid(tol_logit)
        att_logit = lg.attend + ap.daily_sd * z[1, idx]
        if t % 7 == 0:  # the clinic-visit day: vomiting is recorded in the snapshot
            p_att = sigmoid(att_logit + ap.vomiting * vomit)
        else:  # between visits, being sick that day is part of the attendance coin flip
            q = s.vomit_p[idx]
            p_att = (1 - q) * sigmoid(att_logit) + q * sigmoid(att_logit + ap.vomiting)

        ui = u[:, idx]
        attended = ui[0] < p_att
        tol = attended & (ui[1] < p_tol)
        intol = attended & ~tol
        lab_risk = (
            aep.lab_risk_hb_below_9 * (hb < 9)
            + aep.lab_risk_plt_below_50 * (plt < 50)
            + aep.lab_risk_anc_below_1 * (anc < 1.0)
        )
        risk = np.maximum(overload - 0.5, 0) + lab_risk
        q_ser = np.minimum(aep.serious_base * np.exp(aep.serious_risk_w * risk), aep.serious_cap)
        q_mod = np.minimum(aep.moderate_base * np.exp(aep.moderate_risk_w * risk), aep.moderate_cap)
        serious = intol & (ui[2] < q_ser)
        moderate = intol & ~serious & (ui[2] < q_ser + q_mod)
        plain = intol & ~serious & ~moderate
        lo, hi = target_rpe_band("aerobic" if aerobic else "resistance", pct)
        rpe_can_fail = hi + 2 <= 20  # near-max band: only stopping early can show intolerance
        stop = (plain & ((ui[3] < aep.early_stop_p) | ~rpe_can_fail)) | serious | moderate
        high_rpe = plain & rpe_can_fail & (~stop | (ui[4] < aep.early_stop_also_high_rpe_p))
        mild_p = np.where(tol, aep.mild_if_tolerated, aep.mild_if_not)
        mild = attended & ~serious & ~moderate & (ui[5] < mild_p)
        ae = np.select([serious, moderate, mild], [3, 2, 1], 0)

        # Completion: >= 90% unless stopped early (then 20-85%).
        full = ui[6] < aep.full_completion_p
        part = 0.9 + 0.1 * ui[7]
        frac = np.where(stop, 0.2 + 0.65 * ui[7], np.where(full, 1.0, part))
        planned_min = minutes
        comp_min = np.where(
            stop, np.floor(planned_min * frac), np.minimum(np.ceil(planned_min * frac), planned_min)
        )
        comp_sets = np.full(k, np.nan) if aerobic else np.where(stop, np.floor(sets * frac), sets)

        rel = np.clip(overload - 0.7, -1.0, 2.0)
        rpe_base = (
            (lo + hi) / 2 + 0.6 * rel + 0.9 * z[2, idx] - tp.rpe_per_trait_sd * self._trait_z[idx]
        )
        rpe = np.clip(np.round(rpe_base), 6, hi + 1)
        rpe = np.where(high_rpe, np.minimum(hi + 2 + np.floor(3 * ui[8]), 20), rpe)
        rpe = np.where(stop & ~high_rpe, np.clip(np.round(rpe_base + 1.5), 6, 20), rpe)

        hrmax = c.hrmax[idx] * np.where(c.beta_blocker[idx], 0.85, 1.0)
        if aerobic:
            hr = hrmax * pct / 100 * (1 + 0.04 * z[3, idx]) + 4 * high_rpe
        else:
            hr = hrmax * (0.5 + 0.002 * (pct - 50) + 0.03 * z[3, idx])
        hr = np.where(
            ui[9] < self.p.obs.session_hr_missing_p, np.nan, np.clip(np.round(hr), 30, 250)
        )
        ae_pain = np.select([serious, moderate, mild], [4.0, 3.0, 1.5], 0.0)
        s_pain = np.clip(np.round(pain + ae_pain + 0.7 * z[4, idx]), 0, 10)
        s_fat = np.clip(np.round(fat + 0.5 * (rpe - hi) + 0.8 * z[5, idx]), 0, 10)
        sym_missing = ui[10] < self.p.obs.session_symptom_missing_p

        nan = np.full(k, np.nan)
        out = {
            "patient": idx,
            "day": np.full(k, t),
            "modality": np.full(k, m),
            "planned_minutes": planned_min.astype(float),
            "planned_pct_hrmax": pct.astype(float) if aerobic else nan,
            "planned_pct_1rm": nan if aerobic else pct.astype(float),
            "planned_sets": nan if aerobic else sets.astype(float),
            "planned_reps": nan if aerobic else reps.astype(float),
            "attended": attended,
            "completed_minutes": np.where(attended, comp_min, np.nan),
            "completed_sets": np.where(attended, comp_sets, np.nan),
            "rpe": np.where(attended, rpe, np.nan),
            "avg_hr": np.where(attended, hr, np.nan),
            "adverse_event": ae,
            "pain": np.where(attended & ~sym_missing, s_pain, np.nan),
            "fatigue": np.where(attended & ~sym_missing, s_fat, np.nan),
            "p_attend": p_att,
            "p_tolerate": p_tol,
            "true_tolerated": np.where(attended, tol.astype(float), np.nan),
        }

        # Accumulate the week and the in-week carry-overs.
        np.add.at(week.attended, idx, attended)
        np.add.at(week.tolerated, idx, tol)
        week.moderate[idx[moderate]] = True
        week.serious[idx[serious]] = True
        self.last_serious_day[idx[serious]] = t
        self.pain_carry[idx] += ae_pain * 0.5 * (serious | moderate)
        tr = self.p.training
        if aerobic:
            inten = (
                np.clip(
                    (pct - tr.aerobic_floor_pct) / tr.aerobic_span_pct,
                    0,
                    tr.aerobic_intensity_cap,
                )
                ** tr.aerobic_intensity_exponent
            )
            np.add.at(week.aerobic_stimulus, idx, np.where(attended, comp_min * inten, 0.0))
        else:
            inten = np.clip(
                (pct - tr.resistance_floor_pct) / tr.resistance_span_pct,
                0,
                tr.resistance_intensity_cap,
            )
            np.add.at(week.resistance_stimulus, idx, np.where(attended, comp_sets * inten, 0.0))
        load = np.where(attended, np.maximum(overload, 0) + 1.0 * moderate + 2.0 * serious, 0.0)
        return out, load
