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

`Simulator` holds the state and the weekly loop; its parts live in mixins, one concern each:
`daily_state` (latent daily dynamics), `clinic_visit` (the weekly snapshot, dropout),
`session_outcomes` (attendance, tolerance, adverse events, the truth query) and `adaptation`
(what a week changes). `dose_plan` reads a plan, `logistic` has the link functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd

from features.contract.dose import PLAN_COLUMNS
from features.contract.tables import SESSION_COLUMNS
from training.sim_params import CANCER_TYPES, PARAMS, SimParams
from training.simulator.adaptation import WeeklyAdaptation, WeekTotals
from training.simulator.clinic_visit import ClinicVisit
from training.simulator.cohort import Cohort, generate_cohort
from training.simulator.daily_state import DailyState, DayState
from training.simulator.dose_plan import clean_plan, require_plan_columns, weekly_burden
from training.simulator.plan import default_week_plan
from training.simulator.session_outcomes import MODALITIES, SessionOutcomes

DEFAULT_START = dt.date(2026, 1, 5)  # a Monday
AE_LEVELS = np.array(["none", "mild", "moderate", "serious"], dtype=object)
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


class Simulator(DailyState, ClinicVisit, SessionOutcomes, WeeklyAdaptation):
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
        self.last_week = WeekTotals(self.n)
        self._day_cache: tuple[int, DayState] | None = None
        self._snapshot: pd.DataFrame | None = None
        self._last_default: pd.DataFrame | None = None  # last week's default plan (schedules)
        self._weeks: list[pd.DataFrame] = []
        self._snapshots: list[pd.DataFrame] = []
        self._id_index = pd.Index(c.patient_id)
        self._lungs = c.has("copd") | (c.cancer == CANCER_TYPES.index("lung")) | c.site("lung")
        sd = self.p.baseline.tolerance_trait_sd
        self._trait_z = c.trait / sd if sd > 0 else np.zeros(self.n)  # the trait in SD units

    # ---- plans ----------------------------------------------------------------------------
    def _parse_plans(self, plans: pd.DataFrame) -> dict[str, np.ndarray]:
        """Align a policy's plan rows to patients; missing patients or 0 sessions mean none."""
        require_plan_columns(plans)
        if plans["patient_id"].astype(str).duplicated().any():
            raise ValueError("plans have more than one row for a patient")
        pos = self._positions(plans)
        out: dict[str, np.ndarray] = {}
        for col in PLAN_COLUMNS:
            arr = np.zeros(self.n)
            arr[pos] = pd.to_numeric(plans[col], errors="coerce").to_numpy(float)
            out[col] = arr
        return clean_plan(out)

    def _positions(self, plans: pd.DataFrame) -> np.ndarray:
        pos = self._id_index.get_indexer(plans["patient_id"].astype(str))
        if (pos < 0).any():
            raise ValueError("plans name patients that are not in the simulation")
        return pos

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
        burden = weekly_burden(plan)
        week = WeekTotals(n)
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
