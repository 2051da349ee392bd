"""`dosewise simulate-deployment`: the simulator run forward with the served policy, writing the
audit and monitoring tables exactly as the REST service does, plus the sessions a clinic logs.

Why it is built like this:

* Production path, in process: each week every patient in the programme becomes a contract
  `RecommendRequest` (snapshot, logged sessions, the previous prescription and progression
  reference handed back), answered by `serving.http.work.recommend_many` (the function behind
  `POST /recommend_batch`) and recorded by `serving.audit.AuditWriter` with
  `serving.monitoring.attach`: the same audit row, hash chain and monitoring row as production.
  No prescription bypasses the policy and its guideline kernel.
* Steady state from week 1: patients enrol in weekly cohorts and stay `programme_weeks` weeks
  (16, as the training cohort), and the clinic has used Dosewise since its first cohort,
  `programme_weeks - 1` weeks before monitoring starts (those weeks are served by the same
  policy but not recorded, and their sessions are logged). So each recorded week mixes
  programme weeks 0-15 like the training data, every history was made under Dosewise, and a
  no-shift deployment has nothing to alarm about. (A clinic that switches to Dosewise goes
  through a transient of about four weeks while the 28-day history features fill with the
  policy's doses; the monitor's baseline should not be taken during one.)
* Shifts (from week `at_week`, weeks counted from 1):
  - `none`;
  - `cohort-mix`: a second clinic with twice the census and the `advanced-cohort` scenario's
    patients (older, 65% stage IV, chemotherapy and palliative x2) joins the monitored
    deployment (it already used Dosewise, so only who the patients are changes);
  - `tolerance`: patients tolerate less than the models believe (tolerance logit -1.0 for
    everyone);
  - `logging`: one of the clinic's two sites (every other enrolment cohort) stops logging RPE.
* Two modes (`--mode`). `active` (the default): the service's prescription is what the patient
  does (the middle of each band). `shadow`, the silent trial every clinical model goes through
  before it acts (Kwong et al., Nat Med 2022; McCradden et al. 2022): the service is asked and
  recorded every week exactly as in active mode (same requests, same audit and monitoring
  rows through the same writer), but the week delivered is the clinic's usual care, the
  simulator's own prescription (`Simulator.step(None)`, as `dosewise simulate` prescribes the
  training cohort), from the clinic's first week. The monitoring rows then carry the
  predictions of that delivered plan (`scored_plan = usual_care`), built as training builds its
  candidate (`training.examples.week_plans` of the week's planned sessions), so every label is
  the outcome of a plan its row predicted, in the training data's own case mix. The service's
  state (the previous prescription and progression reference a client hands back) is its own
  answers, as a client that stores them would hand them back; no feature reads them.
* The simulated dates are the `as_of` of every request; `ts` is the wall clock, as in production.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contract.convert import delivered_plan
from features.contract.dose import PLAN_COLUMNS
from features.contract.rest import Patient, Prescription, ProgressionReference, RecommendRequest
from features.contract.tables import PATIENT_LIST_FIELDS, PATIENT_NESTED, SESSION_COLUMNS
from features.contract.vocab import LIST_SEPARATOR
from features.io import write_atomic
from serving.policy.result import Recommendation
from training.examples import week_plans
from training.sim_params import PARAMS, SimParams
from training.simulator import Simulator
from training.simulator.engine import TRUTH_PATIENT_COLUMNS, TRUTH_SESSION_COLUMNS
from training.simulator.scenarios import scenario_params

SHIFTS = {
    "none": "no change: the world the models were trained on",
    "cohort-mix": "a second clinic (twice the census; older, mostly stage IV, chemotherapy and "
    "palliative x2) joins the monitored deployment",
    "tolerance": "patients tolerate less than the models believe (tolerance logit -1.0)",
    "logging": "one site (half the patients) stops logging RPE",
}
MODES = {
    "active": "the service's prescription is delivered",
    "shadow": "silent trial: the service is asked and recorded, the clinic's usual care is "
    "delivered and monitored",
}
TOLERANCE_SHIFT_LOGIT = 1.0
COHORT_MIX_CENSUS = 2  # the joining clinic sees twice the main clinic's patients
DEFAULT_START = dt.date(2026, 3, 2)  # a Monday
SESSION_INT_FIELDS = (
    "planned_sets",
    "planned_reps",
    "completed_sets",
    "rpe",
    "avg_hr",
    "pain",
    "fatigue",
)
_PATIENT_FIELDS = tuple(Patient.model_fields)


@dataclass(frozen=True)
class DeploymentConfig:
    patients: int  # patients in the programme each week (per clinic)
    weeks: int
    shift: str = "none"
    at_week: int = 6
    seed: int = 7
    start: dt.date = DEFAULT_START
    programme_weeks: int = 16
    mode: str = "active"

    def __post_init__(self) -> None:
        if self.shift not in SHIFTS:
            raise ValueError(f"unknown shift {self.shift!r}; known: {', '.join(SHIFTS)}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.shift != "none" and not 1 <= self.at_week <= self.weeks:
            raise ValueError(f"--at-week must be within the {self.weeks} simulated weeks")
        if self.start.weekday() != 0:
            raise ValueError("start must be a Monday (weeks are ISO weeks)")


def tolerance_shift(p: SimParams) -> SimParams:
    """Everyone tolerates less: the tolerance intercept falls by TOLERANCE_SHIFT_LOGIT."""
    return replace(p, tolerance=replace(p.tolerance, base=p.tolerance.base - TOLERANCE_SHIFT_LOGIT))


@dataclass
class Cohort:
    """One enrolment cohort of one clinic: a Simulator started on its enrolment Monday."""

    clinic: str
    site: str
    enrol_week: int  # deployment week index (0 = week 1) of its first week
    sim: Simulator
    served_from: int  # first week index the clinic uses Dosewise (negative: before week 1)
    recorded_from: int  # first week index its recommendations reach the monitored tables

    def active(self, week: int, programme_weeks: int) -> bool:
        return self.enrol_week <= week < self.enrol_week + programme_weeks


@dataclass
class DeploymentState:
    """What carries over from week to week: logged tables and each patient's last answer."""

    sessions: list[pd.DataFrame] = field(default_factory=list)
    patients: list[pd.DataFrame] = field(default_factory=list)
    prescriptions: dict[str, Prescription] = field(default_factory=dict)
    references: dict[str, ProgressionReference] = field(default_factory=dict)
    by_patient: dict[str, list[dict]] = field(default_factory=dict)  # logged sessions as dicts


def _none(v: Any) -> Any:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def row_to_patient(row: dict[str, Any]) -> dict[str, Any]:
    """A patients-table row (flat) -> the contract's nested `patient` object."""
    out: dict[str, Any] = {}
    for key in _PATIENT_FIELDS:
        if key in PATIENT_NESTED:
            nested = {c: _none(row.get(c)) for c in PATIENT_NESTED[key]}
            out[key] = {k: v for k, v in nested.items() if v is not None}
        elif key in PATIENT_LIST_FIELDS:
            text = _none(row.get(key))
            out[key] = [x for x in str(text).split(LIST_SEPARATOR) if x] if text else []
        else:
            v = _none(row.get(key))
            if v is not None:
                out[key] = v
    if out.get("days_since_infusion") is not None:
        out["days_since_infusion"] = int(out["days_since_infusion"])
    return out


def session_dicts(sessions: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Logged sessions grouped by patient, as contract `sessions` items."""
    out: dict[str, list[dict[str, Any]]] = {}
    if sessions.empty:
        return out
    s = sessions.copy()
    s["date"] = pd.to_datetime(s["date"]).dt.date
    cols = [c for c in SESSION_COLUMNS if c != "patient_id"]
    for pid, rec in zip(s["patient_id"].astype(str), s[cols].to_dict("records"), strict=True):
        item = {k: _none(v) for k, v in rec.items()}
        for k in SESSION_INT_FIELDS:
            if item.get(k) is not None:
                item[k] = round(item[k])
        out.setdefault(pid, []).append({k: v for k, v in item.items() if v is not None})
    return out


def make_cohorts(cfg: DeploymentConfig) -> list[Cohort]:
    """Every enrolment cohort of every clinic the deployment will see."""
    warm = cfg.programme_weeks - 1
    # (name, simulator parameters, census factor, week it is recorded from)
    clinics: list[tuple[str, SimParams, int, int]] = [("main", PARAMS, 1, 0)]
    if cfg.shift == "cohort-mix":
        advanced = scenario_params("advanced-cohort")
        clinics.append(("advanced", advanced, COHORT_MIX_CENSUS, cfg.at_week - 1))
    cohorts = []
    for c_idx, (clinic, params, factor, recorded_from) in enumerate(clinics):
        size = max(1, math.ceil(factor * cfg.patients / cfg.programme_weeks))
        for enrol in range(-warm, cfg.weeks):
            seed = cfg.seed * 100_000 + c_idx * 10_000 + (enrol + 5_000)
            start = cfg.start + dt.timedelta(weeks=enrol)
            sim = Simulator(size, seed=seed, start=start, params=params)
            site = "south" if enrol % 2 else "north"
            cohorts.append(Cohort(clinic, site, enrol, sim, -warm, recorded_from))
    return cohorts


Plan = dict[str, float]
Served = list[tuple[Cohort, pd.DataFrame]]  # the cohorts served this week, with their snapshots
# recommend(requests, record, delivered): the service's answers; when `record`, written to the
# audit and monitoring tables, the per-modality predictions of the `delivered` plans (shadow
# mode, one per request) or, without them, of the service's own prescriptions.
Recommender = Callable[[list[RecommendRequest], bool, list[Plan] | None], list[Recommendation]]


def _logged(
    sessions: pd.DataFrame, cohort: Cohort, week: int, cfg: DeploymentConfig
) -> pd.DataFrame:
    """What the clinic logs of a simulated week (truth columns dropped; the logging shift)."""
    out = sessions.drop(columns=[c for c in TRUTH_SESSION_COLUMNS if c in sessions])
    if cfg.shift == "logging" and week >= cfg.at_week - 1 and cohort.site == "south":
        out = out.assign(rpe=np.nan)
    return out


def _requests(snap: pd.DataFrame, state: DeploymentState, as_of: dt.date) -> list[RecommendRequest]:
    reqs = []
    for row in snap.to_dict("records"):
        pid = str(row["patient_id"])
        body = {
            "patient": row_to_patient(row),
            "sessions": state.by_patient.get(pid, []),
            "as_of": as_of,
            "current_prescription": state.prescriptions.get(pid),
            "progression_reference": state.references.get(pid),
        }
        reqs.append(RecommendRequest.model_validate(body))
    return reqs


def run_deployment(
    cfg: DeploymentConfig,
    recommend: Recommender,
    on_week: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Simulate the deployment week by week; returns the logged patients and sessions tables
    and a per-week summary.

    `recommend(requests, record, delivered)` answers contract requests (the policy behind the
    service) and, when `record`, writes them to the audit and monitoring tables (weeks 1..W);
    `cfg.mode` says which week is delivered (`_serve_active`, `_serve_shadow`)."""
    cohorts = make_cohorts(cfg)
    state = DeploymentState()
    first = min(c.enrol_week for c in cohorts)
    weekly: list[dict[str, Any]] = []
    for week in range(first, cfg.weeks):
        if cfg.shift == "tolerance" and week == cfg.at_week - 1:
            for c in cohorts:
                c.sim.p = tolerance_shift(c.sim.p)
        served: Served = []
        for c in cohorts:
            if not c.active(week, cfg.programme_weeks):
                continue
            snap = c.sim.snapshot().drop(columns=list(TRUTH_PATIENT_COLUMNS))
            state.patients.append(snap.assign(clinic=c.clinic, site=c.site))
            if week < c.served_from:
                _, sessions = c.sim.step(None)
                _log(state, _logged(sessions, c, week, cfg))
            else:  # a patient who withdrew is no longer seen (and no longer prescribed)
                served.append((c, snap[~c.sim.dropped]))
        if served:
            as_of = cfg.start + dt.timedelta(weeks=week)
            step = _serve_shadow if cfg.mode == "shadow" else _serve_active
            responses = step(served, state, as_of, week, cfg, recommend)
            decisions: dict[str, int] = {}
            for rec in responses:
                decisions[rec.decision] = decisions.get(rec.decision, 0) + 1
            if week >= 0:
                recorded = sum(len(s) for c, s in served if week >= c.recorded_from)
                weekly.append(
                    {"week": week + 1, "as_of": as_of.isoformat(), "requests": recorded} | decisions
                )
        if on_week is not None:
            on_week(week - first + 1, cfg.weeks - first)
    patients = pd.concat(state.patients, ignore_index=True)
    sessions = pd.concat(state.sessions, ignore_index=True)
    return {"patients": patients, "sessions": sessions, "weeks": weekly}


def _ask(
    served: Served,
    state: DeploymentState,
    as_of: dt.date,
    week: int,
    recommend: Recommender,
    delivered: dict[str, Plan] | None = None,
) -> list[Recommendation]:
    """The service's answers for the week (recorded for the cohorts in the monitored window),
    with the service's own state (previous prescription, progression reference) carried on."""
    responses: list[Recommendation] = []
    for record in (False, True):
        part = [s for c, s in served if (week >= c.recorded_from) == record]
        if not part:
            continue
        reqs = _requests(pd.concat(part, ignore_index=True), state, as_of)
        plans = None
        if delivered is not None:
            plans = [delivered.get(r.patient.patient_id, _NO_PLAN) for r in reqs]
        responses += recommend(reqs, record, plans)
    for rec in responses:
        if rec.prescription is not None:
            state.prescriptions[rec.patient_id] = rec.prescription
        if rec.progression_reference is not None:
            state.references[rec.patient_id] = rec.progression_reference
    return responses


def _serve_active(
    served: Served,
    state: DeploymentState,
    as_of: dt.date,
    week: int,
    cfg: DeploymentConfig,
    recommend: Recommender,
) -> list[Recommendation]:
    """Active: the service's prescription (the middle of each band) is the week delivered."""
    responses = _ask(served, state, as_of, week, recommend)
    plans = {rec.patient_id: delivered_plan(rec.prescription) for rec in responses}
    for c, snap in served:
        ids = snap["patient_id"].astype(str)
        frame = pd.DataFrame([plans[p] for p in ids], columns=list(PLAN_COLUMNS)).assign(
            patient_id=ids.to_numpy()
        )
        _, sessions = c.sim.step(frame[["patient_id", *PLAN_COLUMNS]])
        _log(state, _logged(sessions, c, week, cfg))
    return responses


def _serve_shadow(
    served: Served,
    state: DeploymentState,
    as_of: dt.date,
    week: int,
    cfg: DeploymentConfig,
    recommend: Recommender,
) -> list[Recommendation]:
    """Shadow: the clinic's usual care is the week delivered (the simulator's own prescription);
    the service is asked on what was known at `as_of` (the requests are built before the week
    is logged) and its rows record the predictions of the delivered plan."""
    logged = []
    delivered: dict[str, Plan] = {}
    for c, _ in served:
        _, sessions = c.sim.step(None)
        week_log = _logged(sessions, c, week, cfg)
        logged.append(week_log)
        delivered |= usual_care_plans(week_log)
    responses = _ask(served, state, as_of, week, recommend, delivered)
    for week_log in logged:
        _log(state, week_log)
    return responses


_NO_PLAN: Plan = dict.fromkeys(PLAN_COLUMNS, 0.0)  # a week with no session planned


def usual_care_plans(sessions: pd.DataFrame) -> dict[str, Plan]:
    """Each patient's plan of one logged week, collapsed from its planned sessions exactly as
    training builds the candidate of its examples (`training.examples.week_plans`: NaN dose
    columns for a modality without sessions, as in training)."""
    if sessions.empty:
        return {}
    plans = week_plans(sessions.assign(week=0))
    return {
        str(row["patient_id"]): {c: float(row[c]) for c in PLAN_COLUMNS}
        for row in plans.to_dict("records")
    }


def _log(state: DeploymentState, sessions: pd.DataFrame) -> None:
    state.sessions.append(sessions)
    for pid, items in session_dicts(sessions).items():
        state.by_patient.setdefault(pid, []).extend(items)


def write_outputs(out: Path, result: dict[str, Any], meta: dict[str, Any]) -> None:
    """The logged tables in the usual cohort format, and what was simulated (each atomic)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("patients", "sessions"):
        frame = result[name]
        write_atomic(out / f"{name}.parquet", lambda p, f=frame: f.to_parquet(p, index=False))
    text = json.dumps(meta | {"weeks_served": result["weeks"]}, indent=2, default=str)
    write_atomic(out / "deployment.json", lambda p: p.write_text(text, encoding="utf-8"))
