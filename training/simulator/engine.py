"""The simulation engine: daily latent dynamics, weekly clinic snapshots, session outcomes.

Vectorised over patients with numpy; Python loops only over weeks and days. Randomness comes from
separate streams spawned from one SeedSequence:

- ``patients``: who the patients are (depends only on seed and n_patients);
- ``world``: exogenous daily noise (labs, fever, vomiting, symptom noise, schedules, dropout draws);
- ``outcomes``: per patient-day uniforms behind attendance, tolerance, AEs and recorded values;
- ``observe``: measurement noise and missingness of the clinic snapshot;
- ``plan``: the random variation of the default (open-loop) prescription.

Every draw has a fixed shape (all patients, every day) whatever the policy prescribes, so policy
arms run on common random numbers: the same patients, the same bad days, the same coin flips.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.contract.dose import PLAN_COLUMNS, VIGOROUS_PCT_HRMAX, target_rpe_band
from features.contract.tables import PATIENT_COLUMNS, SESSION_COLUMNS
from training.sim_params import CANCER_TYPES, PARAMS, PHASES, SimParams
from training.simulator.cohort import EXPERIENCE, STAGES, Cohort, generate_cohort
from training.simulator.plan import default_week_plan

DEFAULT_START = dt.date(2026, 1, 5)  # a Monday
AE_LEVELS = np.array(["none", "mild", "moderate", "serious"], dtype=object)
MODALITIES = np.array(["aerobic", "resistance"], dtype=object)
TRUTH_PATIENT_COLUMNS = (
    "true_vo2peak",
    "true_strength",
    "true_motivation",
    "true_dropped_out",
    "true_sarcopenia",
    "true_fatigue",
    "true_adaptation",
    "true_tolerance_trait",
)
TRUTH_SESSION_COLUMNS = ("p_attend", "p_tolerate", "true_tolerated")

Policy = Callable[[pd.DataFrame, pd.DataFrame, pd.Timestamp], pd.DataFrame]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _require_plan_columns(plans: pd.DataFrame) -> None:
    missing = [c for c in ("patient_id", *PLAN_COLUMNS) if c not in plans.columns]
    if missing:
        raise ValueError(f"plans lack columns {missing}")


def _clean_plan(out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Session counts to whole numbers (0-7), doses clipped to what a person can do, and the
    minutes of a resistance session; a modality with no sessions, minutes or sets is none."""
    for col in ("aerobic_sessions", "resistance_sessions"):
        out[col] = np.clip(np.round(np.nan_to_num(out[col])), 0, 7).astype(int)
    a = out["aerobic_sessions"] > 0
    a &= np.nan_to_num(out["aerobic_minutes"]) >= 1
    r = out["resistance_sessions"] > 0
    r &= np.nan_to_num(out["resistance_sets"]) >= 1
    out["aerobic_sessions"] = np.where(a, out["aerobic_sessions"], 0)
    out["resistance_sessions"] = np.where(r, out["resistance_sessions"], 0)
    for col, on in (
        ("aerobic_pct_hrmax", a),
        ("resistance_pct_1rm", r),
        ("resistance_reps", r),
    ):
        if np.isnan(out[col][on]).any():
            raise ValueError(f"plans with sessions need {col}")
    out["aerobic_minutes"] = np.clip(out["aerobic_minutes"], 1, 180)
    out["aerobic_pct_hrmax"] = np.clip(out["aerobic_pct_hrmax"], 30, 100)
    out["resistance_sets"] = np.clip(np.round(np.nan_to_num(out["resistance_sets"])), 1, 10)
    out["resistance_reps"] = np.clip(np.round(out["resistance_reps"]), 1, 30)
    out["resistance_pct_1rm"] = np.clip(out["resistance_pct_1rm"], 10, 100)
    out["resistance_minutes"] = np.round(
        10 + 8 * out["resistance_sets"] + 0.5 * (out["resistance_reps"] - 10)
    )
    return out


def _weekly_burden(plan: dict[str, np.ndarray]) -> np.ndarray:
    """(weekly moderate-equivalent minutes)/150 - 1, the attendance burden term of a plan."""
    vig = plan["aerobic_pct_hrmax"] >= VIGOROUS_PCT_HRMAX
    return (
        plan["aerobic_sessions"] * plan["aerobic_minutes"] * np.where(vig, 2.0, 1.0)
        + plan["resistance_sessions"] * plan["resistance_minutes"]
    ) / 150.0 - 1.0


def _probit_scale(sd: float) -> float:
    """E[sigmoid(x + sd z)] ~ sigmoid(x / this) (probit approximation): noise integrated out."""
    return float(np.sqrt(1.0 + np.pi * sd**2 / 8.0))


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


@dataclass
class _Week:
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


class Simulator:
    """Closed-loop cohort simulator: `snapshot()` -> plans -> `step(plans)`, week after week.

    `run(weeks, policy)` drives the loop; with no policy it uses `default_week_plan`, and
    `simulate_cohort` is exactly `Simulator(...).run(weeks)`.
    """

    def __init__(
        self,
        n_patients: int,
        seed: int = 0,
        start: dt.date = DEFAULT_START,
        params: SimParams | None = None,
    ) -> None:
        self.n = int(n_patients)
        self.seed = int(seed)
        self.start = pd.Timestamp(start)
        self.p = params or PARAMS
        streams = np.random.SeedSequence(self.seed).spawn(5)
        (
            self._rng_patients,
            self._rng_world,
            self._rng_outcomes,
            self._rng_observe,
            self._rng_plan,
        ) = (np.random.default_rng(s) for s in streams)
        self.c: Cohort = generate_cohort(self.n, self.seed, self._rng_patients, self.p)
        c = self.c
        self.week = 0
        self.vo2 = c.vo2.copy()
        self.strength = c.strength.copy()
        self.motivation = c.motivation.copy()
        self.mot_memory = np.zeros(self.n)  # the fading part of motivation: recent experience
        self.ecog = c.ecog.copy()
        self.weight = c.weight.copy()
        self.adapt_a = np.zeros(self.n)
        self.adapt_r = np.zeros(self.n)
        self.intolerance = np.zeros(self.n)
        self.dropped = np.zeros(self.n, dtype=bool)
        self.acute_fatigue = np.zeros(self.n)
        self.fatigue_wobble: np.ndarray | None = None  # AR(1) day-to-day fatigue fluctuation
        self.pain_carry = np.zeros(self.n)
        self.last_serious_day = np.full(self.n, -10_000)
        self.last_week = _Week(self.n)
        self._day_cache: tuple[int, DayState] | None = None
        self._snapshot: pd.DataFrame | None = None
        self._last_default: pd.DataFrame | None = None  # last week's default plan (schedules)
        self._weeks: list[pd.DataFrame] = []
        self._snapshots: list[pd.DataFrame] = []
        self._id_index = pd.Index(c.patient_id)
        self._lungs = c.has("copd") | (c.cancer == CANCER_TYPES.index("lung")) | c.site("lung")
        sd = self.p.baseline.tolerance_trait_sd
        self._trait_z = c.trait / sd if sd > 0 else np.zeros(self.n)  # the trait in SD units

    # ---- latent daily state ---------------------------------------------------------------
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

    # ---- clinic snapshot ------------------------------------------------------------------
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
                "true_vo2peak": self.vo2.copy(),
                "true_strength": self.strength.copy(),
                "true_motivation": _sigmoid(self.motivation),
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
        self.dropped |= u[0] < _sigmoid(logit)
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

    # ---- plans ----------------------------------------------------------------------------
    def _parse_plans(self, plans: pd.DataFrame) -> dict[str, np.ndarray]:
        """Align a policy's plan rows to patients; missing patients or 0 sessions mean none."""
        _require_plan_columns(plans)
        if plans["patient_id"].astype(str).duplicated().any():
            raise ValueError("plans have more than one row for a patient")
        pos = self._positions(plans)
        out: dict[str, np.ndarray] = {}
        for col in PLAN_COLUMNS:
            arr = np.zeros(self.n)
            arr[pos] = pd.to_numeric(plans[col], errors="coerce").to_numpy(float)
            out[col] = arr
        return _clean_plan(out)

    def _positions(self, plans: pd.DataFrame) -> np.ndarray:
        pos = self._id_index.get_indexer(plans["patient_id"].astype(str))
        if (pos < 0).any():
            raise ValueError("plans name patients that are not in the simulation")
        return pos

    # ---- the truth behind the outcomes (oracle arms) --------------------------------------
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
        _require_plan_columns(plans)
        self.snapshot()  # the visit day's state exists (and is cached) before the week runs
        s = self._day_state(7 * self.week)
        idx = self._positions(plans)
        plan = _clean_plan(
            {c: pd.to_numeric(plans[c], errors="coerce").to_numpy(float) for c in PLAN_COLUMNS}
        )
        burden = _weekly_burden(plan)
        tp, ap, aep = self.p.tolerance, self.p.attendance, self.p.ae
        out: dict[str, np.ndarray] = {}
        for m, name in enumerate(MODALITIES):
            lg = self._session_logits(m, idx, s, plan, burden)
            p_tol = _sigmoid(lg.tolerate / _probit_scale(tp.daily_sd))
            att = lg.attend / _probit_scale(ap.daily_sd)
            q = s.vomit_p[idx]
            p_att = (1 - q) * _sigmoid(att) + q * _sigmoid(att + ap.vomiting)
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

    # ---- one week -------------------------------------------------------------------------
    def step(self, plans: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Simulate the current week under `plans` (None: default plan); returns its snapshot
        and sessions, then advances to the next week."""
        snap = self.snapshot()
        if plans is None:
            plans = default_week_plan(
                snap, self._rng_plan, self._serious_history(), self.p.plan, self._last_default
            )
            self._last_default = plans
        plan = self._parse_plans(plans)
        for col in ("aerobic_sessions", "resistance_sessions"):  # withdrawn: no longer booked
            plan[col] = np.where(self.dropped, 0, plan[col])
        n = self.n
        order = np.argsort(self._rng_world.random((n, 7)), axis=1)  # days in random order
        rank = np.argsort(order, axis=1)
        aer_on = rank < plan["aerobic_sessions"][:, None]
        res_on = rank >= 7 - plan["resistance_sessions"][:, None]
        burden = _weekly_burden(plan)
        week = _Week(n)
        parts: list[dict[str, np.ndarray]] = []
        for dow in range(7):
            t = 7 * self.week + dow
            state = self._day_state(t)
            carry = np.zeros(n)
            u = self._rng_outcomes.random((2, 12, n))
            z = self._rng_outcomes.standard_normal((2, 6, n))
            for m, on in enumerate((aer_on[:, dow], res_on[:, dow])):
                idx = np.flatnonzero(on)
                if len(idx):
                    part, overload = self._sessions(
                        m, idx, t, state, plan, burden, u[m], z[m], week
                    )
                    parts.append(part)
                    carry[idx] += overload
            self._end_day(t, carry)
        sessions = self._sessions_frame(parts)
        self._end_week(week)
        self._weeks.append(sessions)
        self._snapshots.append(snap)
        self.week += 1
        self._snapshot = None
        return snap, sessions

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
            overload = tp.intensity_weight * _softplus((pct - cap) / tp.intensity_scale_pct)
            overload += tp.minutes_weight * _softplus(
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
            overload = tp.resistance_weight * _softplus((pct - cap) / tp.resistance_scale_pct)
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
        week: _Week,
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
        p_tol = _sigmoid(tol_logit)
        att_logit = lg.attend + ap.daily_sd * z[1, idx]
        if t % 7 == 0:  # the clinic-visit day: vomiting is recorded in the snapshot
            p_att = _sigmoid(att_logit + ap.vomiting * vomit)
        else:  # between visits, being sick that day is part of the attendance coin flip
            q = s.vomit_p[idx]
            p_att = (1 - q) * _sigmoid(att_logit) + q * _sigmoid(att_logit + ap.vomiting)

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

    def _end_day(self, t: int, carry: np.ndarray) -> None:
        tr = self.p.training
        self.acute_fatigue = (
            tr.acute_fatigue_keep * self.acute_fatigue + tr.acute_fatigue_per_overload * carry
        )
        self.pain_carry *= 0.7
        self._day_cache = None

    def _end_week(self, week: _Week) -> None:
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

    # ---- frames ---------------------------------------------------------------------------
    def _sessions_frame(self, parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
        cols = [*SESSION_COLUMNS, *TRUTH_SESSION_COLUMNS]
        if not parts:
            empty = pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
            empty["patient_id"] = empty["patient_id"].astype(object)
            empty["date"] = pd.Series(dtype="datetime64[ns]")
            empty["modality"] = empty["modality"].astype(object)
            empty["attended"] = empty["attended"].astype(bool)
            empty["adverse_event"] = empty["adverse_event"].astype(object)
            return empty[cols]
        d = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        dates = self.start.to_datetime64() + d["day"].astype("timedelta64[D]")
        frame = {
            "patient_id": self.c.patient_id[d["patient"]],
            "date": dates.astype("datetime64[ns]"),
            "modality": MODALITIES[d["modality"]],
        }
        for col in cols[3:]:
            frame[col] = AE_LEVELS[d[col]] if col == "adverse_event" else d[col]
        return pd.DataFrame(frame)[cols]

    def _serious_history(self) -> pd.DataFrame:
        """Minimal history for the default plan's hold rule: recent serious AEs only."""
        t0 = 7 * self.week
        recent = np.flatnonzero((self.last_serious_day >= t0 - 7) & (self.last_serious_day < t0))
        return pd.DataFrame(
            {
                "patient_id": self.c.patient_id[recent],
                "date": self.start + pd.to_timedelta(self.last_serious_day[recent], unit="D"),
                "adverse_event": "serious",
            }
        )

    def history(self) -> pd.DataFrame:
        """All sessions simulated so far (strictly before the current week's start)."""
        if not self._weeks:
            return self._sessions_frame([])
        return pd.concat(self._weeks, ignore_index=True)

    def patients(self) -> pd.DataFrame:
        """All weekly snapshots simulated so far."""
        if not self._snapshots:
            return self.snapshot().iloc[0:0].copy()
        return pd.concat(self._snapshots, ignore_index=True)

    def run(
        self,
        weeks: int,
        policy: Policy | None = None,
        on_week: Callable[[int], None] | None = None,
        reveal_truth: bool = False,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Simulate `weeks` weeks; `policy(snapshot, history, week_start)` -> plans, or default.

        A policy sees what a clinic sees: the truth columns (true_*, p_attend, p_tolerate,
        true_tolerated) are dropped from its snapshot and history unless `reveal_truth` (oracle
        arms). The returned frames always carry them.
        """
        for _ in range(weeks):
            snap = self.snapshot()
            plans = None
            if policy is not None:
                week_start = self.start + pd.Timedelta(days=7 * self.week)
                history = self.history()
                if not reveal_truth:
                    snap = snap.drop(columns=list(TRUTH_PATIENT_COLUMNS))
                    history = history.drop(columns=list(TRUTH_SESSION_COLUMNS))
                plans = policy(snap, history, week_start)
            self.step(plans)
            if on_week is not None:
                on_week(self.week)
        return self.patients(), self.history()


def simulate_cohort(
    n_patients: int = 2000,
    weeks: int = 16,
    seed: int = 11,
    start: dt.date = DEFAULT_START,
    params: SimParams | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Open-loop cohort: (patients weekly snapshots, planned sessions) with truth columns."""
    return Simulator(n_patients, seed=seed, start=start, params=params).run(weeks)
