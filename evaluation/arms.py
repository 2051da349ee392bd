"""The arms of the closed-loop evaluation: each turns (snapshot, history, week) into prescriptions.

Arms on the same simulated patients (issue 10): the fixed guideline dose, a rule-based +/-10%
progression, the Dosewise policy with the champion models, and any arm registered in
`ARM_FACTORIES` (the oracle arm plugs in here). Every arm goes through the guideline kernel (holds
and refers give no sessions; fixed and progression doses are clamped into the envelope), and an
independent check counts any prescription outside the envelope as a guideline violation.

Honest loop: what an arm prescribes is a `Prescription` (bands), and that exact prescription is
next week's current prescription (`rx_*` columns via
`features.contract.convert.prescription_to_row`), so nothing drifts from one week to the next.
What the simulated patient does is the middle of each band (`delivered_plan`): aiming at the
centre of "64-76% HRmax" is 70% HRmax.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features import build
from features.contract.convert import delivered_plan, prescription_to_row
from features.contract.rest import AerobicDose, IntRange, Prescription, Range, ResistanceDose
from features.labels import tolerated
from features.settings import Settings
from serving.guidelines import kernel as gk
from serving.policy import (
    PLAN_COLUMNS,
    REFERENCE_COLUMNS,
    Models,
    PlanScores,
    Points,
    PolicyConfig,
    Scorer,
    kernel_facts,
    recommend,
)

# The fixed guideline dose: 3 x 30 min at 64-76% HRmax (moderate, ACSM GETP 10; Campbell 2019)
# and 2 x resistance, 2 sets x 12 reps at 60% 1RM (Garber 2011: 60-70% 1RM, 8-12 reps, 1-3 sets).
FIXED_RX = Prescription(
    aerobic=AerobicDose(
        sessions_per_week=3,
        minutes_per_session=30,
        intensity_pct_hrmax=Range(low=64, high=76),
        rpe=IntRange(low=12, high=13),
    ),
    resistance=ResistanceDose(
        sessions_per_week=2,
        sets=2,
        reps=IntRange(low=12, high=12),
        intensity_pct_1rm=Range(low=60, high=60),
    ),
)

TruthFn = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True)
class ArmEnv:
    """What an arm factory may use: settings, policy configuration, models (loaded on first use)
    and, inside a running simulation, `truth` = the simulator's `true_probabilities` (oracle)."""

    settings: Settings | None = None
    cfg: PolicyConfig = field(default_factory=PolicyConfig)
    models_loader: Callable[[], Models] | None = None
    truth: TruthFn | None = None

    def models(self) -> Models:
        if self.models_loader is None:
            raise RuntimeError("this evaluation has no models")
        return self.models_loader()


def has_dose(rx: Prescription | None) -> bool:
    return rx is not None and (rx.aerobic is not None or rx.resistance is not None)


def with_current(snapshot: pd.DataFrame, current: dict[str, Prescription]) -> pd.DataFrame:
    """The snapshot with each patient's current prescription, exactly, as the `rx_*` columns."""
    rows = [prescription_to_row(current.get(str(p))) for p in snapshot["patient_id"]]
    rx = pd.DataFrame(rows, index=snapshot.index)
    out = snapshot.copy()
    for col in rx.columns:
        out[col] = rx[col]
    return out


def kernel_results(
    snapshot: pd.DataFrame, history: pd.DataFrame, week: pd.Timestamp
) -> list[gk.KernelResult]:
    """The kernel's verdict for every patient of a snapshot that carries its rx_* columns."""
    keys = pd.DataFrame({"patient_id": snapshot["patient_id"].astype(str), "as_of": week})
    base = build(snapshot, history, keys)
    return [
        gk.evaluate(kernel_facts(row, h))
        for row, h in zip(snapshot.to_dict("records"), base.to_dict("records"), strict=True)
    ]


def clamp(rx: Prescription | None, res: gk.KernelResult) -> Prescription | None:
    """A rule-based arm's prescription forced inside the envelope (None under hold or refer)."""
    if res.decision != "allowed" or not has_dose(rx):
        return None
    return gk.clamp_prescription(rx, res)


class Arm:
    """One arm: remembers each patient's current prescription and logs every week it hands out.

    Subclasses implement `prescribe` (one Prescription or None per snapshot row). The simulator
    calls the arm as its policy and receives delivered point doses.
    """

    def __init__(self, env: ArmEnv) -> None:
        self.env = env
        self.current: dict[str, Prescription] = {}
        self._log: list[pd.DataFrame] = []
        self.violation_examples: list[str] = []

    def __call__(
        self, snapshot: pd.DataFrame, history: pd.DataFrame, week: pd.Timestamp
    ) -> pd.DataFrame:
        snap = with_current(snapshot, self.current)
        results = kernel_results(snap, history, week)
        rxs = self.prescribe(snap, history, week, results)
        pids = snap["patient_id"].astype(str).tolist()
        rows = []
        for pid, rx, res in zip(pids, rxs, results, strict=True):
            problems = gk.check_prescription(rx if has_dose(rx) else None, res)
            if problems and len(self.violation_examples) < 5:
                self.violation_examples.append("; ".join(problems))
            if has_dose(rx):
                self.current[pid] = rx  # exactly what was prescribed is next week's rx_*
            plan = delivered_plan(rx if has_dose(rx) else None)
            rows.append(
                {"patient_id": pid, "decision": res.decision, "violation": bool(problems)} | plan
            )
        week_log = pd.DataFrame(rows).assign(week=week)
        self._log.append(week_log)
        return week_log[["patient_id", *PLAN_COLUMNS]]

    def log(self) -> pd.DataFrame:
        """One row per patient and week: kernel decision, delivered plan, violation flag."""
        return pd.concat(self._log, ignore_index=True) if self._log else pd.DataFrame()

    def prescribe(
        self,
        snapshot: pd.DataFrame,
        history: pd.DataFrame,
        week: pd.Timestamp,
        results: list[gk.KernelResult],
    ) -> list[Prescription | None]:  # pragma: no cover - abstract
        raise NotImplementedError


class FixedArm(Arm):
    """3 x 30 min at 64-76% HRmax + 2 x resistance 2 x 12 at 60% 1RM, kernel applied."""

    def prescribe(self, snapshot, history, week, results):
        return [clamp(FIXED_RX, res) for res in results]


def scale_rx(rx: Prescription, factor: float) -> Prescription:
    """Minutes per session and %1RM times `factor` (rounded), everything else unchanged."""
    update: dict[str, Any] = {}
    if rx.aerobic is not None:
        minutes = float(np.round(rx.aerobic.minutes_per_session * factor))
        update["aerobic"] = rx.aerobic.model_copy(update={"minutes_per_session": minutes})
    if rx.resistance is not None:
        one_rm = rx.resistance.intensity_pct_1rm
        band = Range(
            low=float(np.round(one_rm.low * factor)), high=float(np.round(one_rm.high * factor))
        )
        update["resistance"] = rx.resistance.model_copy(update={"intensity_pct_1rm": band})
    return rx.model_copy(update=update)


class ProgressionArm(Arm):
    """+10% after a fully tolerated week, -10% after an intolerant one, kernel applied."""

    def prescribe(self, snapshot, history, week, results):
        last = history[history["date"] >= week - pd.Timedelta(days=7)]
        last = last.assign(tol=tolerated(last))
        att = last[last["attended"]]
        intolerant = set(att.loc[att["tol"] == 0, "patient_id"].astype(str))
        tolerated_week = set(att["patient_id"].astype(str)) - intolerant
        out = []
        for pid, res in zip(snapshot["patient_id"].astype(str), results, strict=True):
            factor = 1.1 if pid in tolerated_week else 0.9 if pid in intolerant else 1.0
            base = self.current.get(pid, FIXED_RX)
            if base.aerobic is None or base.resistance is None:  # a modality clamped away: restart
                base = base.model_copy(
                    update={
                        "aerobic": base.aerobic or FIXED_RX.aerobic,
                        "resistance": base.resistance or FIXED_RX.resistance,
                    }
                )
            out.append(clamp(scale_rx(base, factor), res))
        return out


class DosewiseArm(Arm):
    """The Dosewise policy (`serving.policy.recommend`) with the champion models: a thin adapter
    (the response's prescription is used as it is; the policy enforces the envelope itself).

    The prescription is carried forward exactly (rx_*). After a deload the policy also names a
    progression reference (the dose deloaded from; also after a week the envelope held below the
    reference, kernel 2026.12.3); it is handed back next week as the `ref_*`
    columns (`serving.policy.REFERENCE_COLUMNS`), so the policy searches around it and the
    patient climbs back to it within the kernel's progression limits of the deload (issue 10).
    """

    def __init__(self, env: ArmEnv) -> None:
        super().__init__(env)
        self.references: dict[str, dict[str, float]] = {}

    def scorer(self) -> Scorer | None:
        """The models (None: `recommend`'s default); the oracle arm swaps in the truth."""
        return None

    def prescribe(self, snapshot, history, week, results):
        snap = with_references(snapshot, self.references)
        scorer = self.scorer()
        if scorer is None:
            responses = recommend(snap, history, week, self.env.models(), self.env.cfg)
        else:
            responses = recommend(snap, history, week, self.env.models(), self.env.cfg, scorer)
        for rec in responses:
            kept = rec.reference_plan is not None and (
                rec.decision == "regress"
                or rec.scored is None
                or rec.scored.plan != rec.reference_plan
            )
            if kept:  # a deload or a capped week: keep the dose it came from
                self.references[rec.patient_id] = rec.reference_plan.as_dict()
            elif rec.prescription is not None:
                self.references.pop(rec.patient_id, None)  # the prescription is the reference
        return [rec.prescription for rec in responses]


def with_references(snapshot: pd.DataFrame, refs: dict[str, dict[str, float]]) -> pd.DataFrame:
    """The snapshot with each deloaded patient's progression reference as `ref_*` columns."""
    if not refs:
        return snapshot
    pids = snapshot["patient_id"].astype(str)
    out = snapshot.copy()
    for col, ref_col in zip(PLAN_COLUMNS, REFERENCE_COLUMNS, strict=True):
        out[ref_col] = [refs[p][col] if p in refs else np.nan for p in pids]
    return out


@dataclass(frozen=True)
class OracleScorer:
    """The simulator's true per-session probabilities as a policy Scorer (the oracle arm)."""

    truth: TruthFn

    def score(
        self, points: Points, point: np.ndarray, plans: np.ndarray, need: np.ndarray | None = None
    ) -> PlanScores:
        frame = pd.DataFrame(plans, columns=list(PLAN_COLUMNS))
        frame.insert(0, "patient_id", np.asarray(points.patient_ids, dtype=object)[point])
        t = self.truth(frame)
        cols = ("aerobic", "resistance")
        tol = np.column_stack([t[f"p_tolerate_{m}"].to_numpy(float) for m in cols])
        att = np.column_stack([t[f"p_attend_{m}"].to_numpy(float) for m in cols])
        return PlanScores(tolerance=tol, attendance=att, features=None)


class OracleArm(DosewiseArm):
    """The same search with the simulator's true tolerance and attendance probabilities in
    place of the models: the upper limit of what better models could give (issue 10)."""

    def scorer(self) -> Scorer | None:
        if self.env.truth is None:
            raise RuntimeError("the oracle arm runs only inside a simulation (env.truth)")
        return OracleScorer(self.env.truth)


class StatelessArm(DosewiseArm):
    """The Dosewise policy for a client that keeps no state: it never states the current
    prescription nor hands the progression reference back (a REST client that omits both, a
    batch job that does not carry them, CDS Hooks before session 16). The loop still knows what
    the patient is on, so its violations count the weeks that broke the progression limits of
    the dose actually in place: what such a client risks."""

    def prescribe(self, snapshot, history, week, results):
        snap = with_current(snapshot, {})
        responses = recommend(snap, history, week, self.env.models(), self.env.cfg)
        return [rec.prescription for rec in responses]


ArmFactory = Callable[[ArmEnv], Arm]

# Arms of every evaluation, in table order; `register_arm` adds more (e.g. the oracle).
ARM_FACTORIES: dict[str, ArmFactory] = {
    "fixed": FixedArm,
    "progression": ProgressionArm,
    "dosewise": DosewiseArm,
    "oracle": OracleArm,
}


# Arms run only when asked for (`evaluate-policy --extra-arm NAME`).
OPTIONAL_ARMS: dict[str, ArmFactory] = {"stateless": StatelessArm}


def register_arm(name: str, factory: ArmFactory) -> None:
    """Add (or replace) an arm: `factory(env)` is called once per simulation run."""
    ARM_FACTORIES[name] = factory


def policy_config(settings: Settings) -> PolicyConfig:
    """The policy configuration the service would use (thresholds from settings)."""
    return PolicyConfig.from_settings(settings)
